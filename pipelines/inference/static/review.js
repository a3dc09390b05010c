// The page of `nlp-pipelines review`: the suspects of find-bad-labels one at a time; keep (k), relabel (r) or
// skip (s). The server logs each decision and rewrites the corrected data; a reload resumes from its state.
// Every text from the data or a model goes into the page as a text node (textContent), never as HTML.
"use strict";

let current = null;
let busy = false;

// the words with the entities [{type, start, end}] (word spans) highlighted
function sentence(words, entities) {
  const box = el("div", {class: "text"});
  let at = 0;
  for (const e of [...entities].sort((a, b) => a.start - b.start)) {
    if (e.start < at) continue;
    if (e.start > at) box.append(words.slice(at, e.start).join(" ") + " ");
    box.append(el("mark", {class: colourOf(e.type)}, words.slice(e.start, e.end).join(" "),
                  el("span", {class: "tag"}, e.type)), " ");
    at = e.end;
  }
  box.append(words.slice(at).join(" "));
  return box;
}

function entityList(entities) {
  return entities.length ? entities.map((e) => `${e.text}/${e.type}`).join(", ") : "(none)";
}

function render(state) {
  const c = state.counts;
  document.getElementById("progress").textContent =
    `${state.task}: ${state.decided} of ${state.total} decided (kept ${c.keep}, relabelled ${c.relabel}, ` +
    `skipped ${c.skip}); corrected data: ${state.corrected}`;
  current = state.suspect;
  document.getElementById("card").hidden = !current;
  document.getElementById("done").hidden = !!current;
  if (!current) {
    document.getElementById("done").textContent = "Every suspect has a decision. Train on the corrected data.";
    return;
  }
  document.getElementById("rank").textContent = `${state.rank} of ${state.total}`;
  document.getElementById("score").textContent = Number(current.score).toFixed(3);
  const example = document.getElementById("example");
  const tags = state.kind === "tags";
  example.replaceChildren(tags ? sentence(current.words, current.given) : el("div", {class: "text"}, current.text));
  if (tags) example.append(el("p", {}, "Suggested:"), sentence(current.words, current.suggested));
  document.getElementById("given").textContent = tags ? entityList(current.given) : current.given;
  document.getElementById("suggested").textContent = tags ? entityList(current.suggested) : current.suggested;
  const select = document.getElementById("label");
  document.getElementById("choose-label").hidden = tags;
  if (!tags) {
    select.replaceChildren(...state.labels.map((label) => el("option", {value: label}, label)));
    select.value = current.suggested;
  }
}

async function decide(action) {
  if (!current || busy) return;
  busy = true;
  const body = {id: current.id, action};
  const select = document.getElementById("label");
  if (action === "relabel" && !document.getElementById("choose-label").hidden) body.label = select.value;
  try {
    render(await api("/review/decide", body));
    showError("");
  } catch (err) {
    showError(err.message);
  } finally {
    busy = false;
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  for (const action of ["keep", "relabel", "skip"]) {
    document.getElementById(action).addEventListener("click", () => decide(action));
  }
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "SELECT" && event.key !== "Enter") return;
    const action = {k: "keep", r: "relabel", s: "skip", Enter: "relabel"}[event.key];
    if (action && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      decide(action);
    }
  });
  try {
    render(await api("/review/state"));
  } catch (err) {
    showError(err.message);
  }
});
