// Counts the remaining time down once a second. Without JavaScript the page still shows
// the remaining time as rendered by the server and the deadline.
const timer = document.getElementById("timer");

function pad(n) {
  return String(n).padStart(2, "0");
}

if (timer && timer.dateTime) {
  const deadline = Date.parse(timer.dateTime);
  const tick = () => {
    const left = Math.max(0, Math.floor((deadline - Date.now()) / 1000));
    timer.textContent = `${Math.floor(left / 3600)}:${pad(Math.floor((left % 3600) / 60))}:${pad(left % 60)}`;
    if (left === 0) {
      clearInterval(handle);
      timer.textContent = "Time is up";
    }
  };
  const handle = setInterval(tick, 1000);
  tick();
}
