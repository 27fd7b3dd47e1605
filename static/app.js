// The upload page: choose, drop or paste a photo, see the cutout, change options, download.
// Without this script the form still posts to /api/remove and the browser downloads the PNG.
"use strict";

(function () {
  document.documentElement.classList.add("js");

  const form = document.getElementById("upload");
  const input = document.getElementById("image");
  const drop = document.getElementById("drop");
  const submit = document.getElementById("submit");
  const status = document.getElementById("status");
  const result = document.getElementById("result");
  const original = document.getElementById("original");
  const preview = document.getElementById("preview");
  const sliderBefore = document.getElementById("slider-before");
  const sliderAfter = document.getElementById("slider-after");
  const slider = document.getElementById("slider");
  const download = document.getElementById("download");
  const background = document.getElementById("background");
  const colour = document.getElementById("bg");

  let photo = null; // the File or Blob being worked on
  let busy = false;
  let pending = false; // an option changed while a photo was being processed
  let urls = [];

  function setStatus(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function stemOf(name) {
    const base = (name || "photo").split(/[\\/]/).pop();
    const dot = base.lastIndexOf(".");
    return (dot > 0 ? base.slice(0, dot) : base) || "photo";
  }

  function choose(file) {
    if (!file) return;
    photo = file;
    run();
  }

  function formData() {
    const data = new FormData();
    data.append("image", photo, photo.name || "pasted.png");
    if (background.value === "colour") data.append("bg", colour.value);
    if (document.getElementById("crop").checked) data.append("crop", "true");
    data.append("people", document.getElementById("people").value);
    if (document.getElementById("mask").checked) data.append("output", "mask");
    data.append("refine", document.getElementById("refine").checked ? "true" : "false");
    return data;
  }

  async function run() {
    if (!photo) return;
    if (busy) {
      pending = true;
      return;
    }
    busy = true;
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    setStatus("Removing the background…");
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: formData(),
        headers: { Accept: "application/json, image/png" },
      });
      if (!response.ok) {
        let message = "The server could not process this photo (" + response.status + ").";
        try {
          message = (await response.json()).error || message;
        } catch (ignored) { /* not JSON: keep the generic message */ }
        setStatus(message, true);
        return;
      }
      show(await response.blob());
      setStatus("Done.");
    } catch (error) {
      setStatus("The server could not be reached: " + error.message, true);
    } finally {
      busy = false;
      submit.disabled = false;
      form.removeAttribute("aria-busy");
      if (pending) {
        pending = false;
        run();
      }
    }
  }

  function show(blob) {
    urls.forEach((url) => URL.revokeObjectURL(url));
    const before = URL.createObjectURL(photo);
    const after = URL.createObjectURL(blob);
    urls = [before, after];
    original.src = before;
    sliderBefore.src = before;
    preview.src = after;
    sliderAfter.src = after;
    download.href = after;
    download.download = stemOf(photo.name) + "-cutout.png";
    result.hidden = false;
    updateSlider();
  }

  function updateSlider() {
    sliderBefore.style.clipPath = "inset(0 " + (100 - slider.value) + "% 0 0)";
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.files.length) photo = input.files[0];
    if (!photo) {
      setStatus("Choose a photo first.", true);
      return;
    }
    run();
  });
  input.addEventListener("change", () => choose(input.files[0]));

  ["dragenter", "dragover"].forEach((type) =>
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("dragging");
    }));
  ["dragleave", "drop"].forEach((type) =>
    drop.addEventListener(type, () => drop.classList.remove("dragging")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    choose(event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const item = Array.from(event.clipboardData.items).find((i) => i.type.startsWith("image/"));
    if (item) choose(item.getAsFile());
  });

  background.addEventListener("change", () => {
    colour.disabled = background.value !== "colour";
    run();
  });
  ["bg", "crop", "people", "mask", "refine"].forEach((id) =>
    document.getElementById(id).addEventListener("change", () => run()));
  slider.addEventListener("input", updateSlider);
})();
