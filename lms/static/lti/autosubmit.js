// Submits the deep-linking response form at once; without JavaScript the button does it.
const form = document.querySelector("form[data-autosubmit]");
if (form) {
  form.requestSubmit();
}
