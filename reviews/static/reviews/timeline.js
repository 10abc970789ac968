// Timeline enhancements: arrow keys move between the incidents drawn on the timeline,
// Enter opens one, and hovering or focusing a band previews its anonymized thumbnail.
// Without this script every incident is still reachable from the table and the
// previous/next links, so nothing here is needed to review a session.

const figure = document.querySelector("[data-timeline]");

if (figure) {
  const markers = Array.from(figure.querySelectorAll("a.tl-incident"));
  const preview = figure.querySelector(".thumb-preview");
  const previewImage = preview ? preview.querySelector("img") : null;
  const status = document.createElement("p");
  status.className = "tl-status";
  status.setAttribute("aria-live", "polite");
  figure.append(status);

  let index = markers.findIndex((m) => m.getAttribute("aria-current") === "true");

  const showThumb = (marker) => {
    const url = marker.dataset.thumb;
    if (!preview || !previewImage || !url) {
      if (preview) preview.hidden = true;
      return;
    }
    previewImage.src = url;
    previewImage.alt = `Anonymized evidence: ${marker.getAttribute("aria-label")}`;
    const box = marker.getBoundingClientRect();
    const frame = figure.getBoundingClientRect();
    preview.dataset.side = box.left - frame.left > frame.width / 2 ? "left" : "right";
    preview.hidden = false;
  };

  const select = (next) => {
    if (!markers.length) return;
    index = Math.max(0, Math.min(markers.length - 1, next));
    markers.forEach((m, i) => m.classList.toggle("is-active", i === index));
    const marker = markers[index];
    status.textContent = `${index + 1} of ${markers.length}: ${marker.getAttribute("aria-label")}`;
    showThumb(marker);
  };

  figure.addEventListener("keydown", (event) => {
    if (!markers.length) return;
    const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: markers.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      select(index < 0 && event.key === "ArrowRight" ? 0 : moves[event.key]);
    } else if (event.key === "Enter" && index >= 0) {
      event.preventDefault();
      window.location.assign(markers[index].getAttribute("href"));
    } else if (event.key === "Escape" && preview) {
      preview.hidden = true;
    }
  });

  markers.forEach((marker, i) => {
    marker.addEventListener("mouseenter", () => select(i));
    marker.addEventListener("focus", () => select(i));
  });
  figure.addEventListener("mouseleave", () => {
    if (preview) preview.hidden = true;
  });
}
