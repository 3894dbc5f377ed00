// Parlo's page works without this file. It adds: live state and last turn (SSE),
// hiding role-play fields when another activity is picked, confirmations, and
// upload progress. Student words are only ever set with textContent.
"use strict";

(function () {
  const STATES = ["booting", "idle", "listening", "thinking", "speaking", "error", "updating"];

  function showState(data) {
    document.querySelectorAll("[data-state-badge]").forEach(function (badge) {
      STATES.forEach(function (s) { badge.classList.remove("state-" + s); });
      if (STATES.indexOf(data.state) >= 0) badge.classList.add("state-" + data.state);
      badge.textContent = data.label || data.state;
      if (badge.hasAttribute("aria-label")) badge.setAttribute("aria-label", "The box is: " + badge.textContent);
    });
    document.querySelectorAll("[data-state-detail]").forEach(function (el) {
      el.textContent = data.detail || "";
    });
  }

  function showTurn(data) {
    const turn = document.querySelector("[data-turn]");
    if (!turn || data.heard === false) return; // a press with no speech: keep the last exchange
    turn.querySelector("[data-turn-transcript]").textContent = data.transcript;
    turn.querySelector("[data-turn-reply]").textContent = data.reply;
    turn.querySelector("[data-turn-note]").textContent = data.cancelled ? "Interrupted." : "";
    turn.hidden = false;
    const empty = document.querySelector("[data-turn-empty]");
    if (empty) empty.hidden = true;
    turn.classList.remove("fresh");
    void turn.offsetWidth; // restart the highlight animation
    turn.classList.add("fresh");
  }

  function listen() {
    if (!document.querySelector("[data-state-badge]") || !window.EventSource) return;
    const source = new EventSource("/events");
    // Marks the page as following the box live (tests wait for it, CSS may use it).
    source.addEventListener("open", function () { document.documentElement.dataset.live = "on"; });
    source.addEventListener("state", function (e) { showState(JSON.parse(e.data)); });
    source.addEventListener("turn", function (e) { showTurn(JSON.parse(e.data)); showLesson(); });
    source.addEventListener("error", function () {
      document.documentElement.dataset.live = "off";
      // Logged out or the box restarted: the browser retries; after a while, reload to log in.
      if (source.readyState === EventSource.CLOSED) setTimeout(function () { location.reload(); }, 5000);
    });
  }

  function rolePlayFields() {
    const select = document.getElementById("f-activity-name");
    const group = document.querySelector("[data-roleplay-only]");
    if (!select || !group) return;
    const update = function () {
      const hasError = group.querySelector(".has-error");
      group.hidden = select.value !== "roleplay" && !hasError;
    };
    select.addEventListener("change", update);
    update();
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); return; }
        // Asked here: the server need not ask again on a page of its own (no-JS path).
        const confirmed = form.querySelector("input[name=confirmed]");
        if (confirmed) confirmed.value = "yes";
      });
    });
  }

  // The Lessons page: the running lesson's figures and chart, after each turn and
  // every 30 s (a lesson also ends by itself). Counts only: no student words here.
  function showLesson() {
    const card = document.querySelector("[data-lesson-live]");
    if (!card) return;
    fetch("/lessons/current", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (lesson) {
        if (!lesson) return;
        card.querySelector("[data-lesson-none]").hidden = lesson.running;
        card.querySelector("[data-lesson-running]").hidden = !lesson.running;
        card.querySelector("[data-lesson-running-pill]").hidden = !lesson.running;
        if (!lesson.running) { delete card.dataset.lessonId; return; }
        card.dataset.lessonId = lesson.id;
        card.querySelector("[data-lesson-title]").textContent = lesson.title;
        card.querySelector("[data-lesson-activities]").textContent = lesson.activities;
        Object.keys(lesson.figures).forEach(function (key) {
          const cell = card.querySelector('[data-lesson-figure="' + key + '"]');
          if (cell) cell.textContent = lesson.figures[key];
        });
        const chart = card.querySelector("[data-lesson-chart]");
        if (chart.getAttribute("src") !== lesson.chart) {
          chart.setAttribute("src", lesson.chart);
          chart.setAttribute("alt", lesson.chart_alt);
        }
      })
      .catch(function () {});
  }

  function followLesson() {
    if (document.querySelector("[data-lesson-live]")) setInterval(showLesson, 30000);
  }

  function showJob(job) {
    const box = document.querySelector("[data-job]");
    if (!box || !job) return;
    box.hidden = false;
    const text = box.querySelector("[data-job-text]");
    const bar = box.querySelector("[data-job-bar]");
    if (job.error) {
      text.textContent = "Import failed: " + job.error;
      text.className = "error-text";
    } else if (job.finished) {
      text.textContent = "Done: " + job.result + ".";
      text.className = "";
    } else {
      text.textContent = job.step.charAt(0).toUpperCase() + job.step.slice(1) + "…";
    }
    if (bar) {
      bar.hidden = job.finished;
      if (job.percent === null) bar.removeAttribute("value"); else bar.value = job.percent;
    }
  }

  function followJob() {
    fetch("/models/progress", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        showJob(job);
        if (job && !job.finished) setTimeout(followJob, 1000);
        else if (job && job.finished && !job.error) setTimeout(function () { location.reload(); }, 1500);
      })
      .catch(function () { setTimeout(followJob, 3000); });
  }

  function uploads() {
    const form = document.querySelector("form[data-upload]");
    const box = document.querySelector("[data-job]");
    if (box && !box.hidden && !box.hasAttribute("data-finished")) followJob();
    if (!form || !window.XMLHttpRequest) return;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("X-Parlo-Upload", "1");
      request.upload.addEventListener("progress", function (p) {
        showJob({ step: "uploading", percent: p.lengthComputable ? Math.round(100 * p.loaded / p.total) : null, finished: false });
      });
      request.addEventListener("load", function () {
        if (request.status === 200) { followJob(); return; }
        showJob({ error: request.responseText || "the upload was refused", finished: true });
      });
      request.addEventListener("error", function () {
        showJob({ error: "the connection to the box was lost", finished: true });
      });
      form.querySelector("button[type=submit]").disabled = true;
      request.send(new FormData(form));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    listen();
    rolePlayFields();
    confirmations();
    uploads();
    followLesson();
  });
})();
