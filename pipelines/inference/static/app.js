// The page of `nlp-pipelines serve`: type a text and see what the model found, or talk to a dialogue model.
// Every piece of text from a user or a model goes into the page as a text node (textContent), never as HTML.
"use strict";

const SESSION_KEY = "nlp-pipelines-chat";

function percent(p) { return `${(100 * p).toFixed(1)}%`; }

// `text` with the character spans [{start, end, type?, score?}] highlighted; overlapping spans are skipped
function highlighted(text, spans, classOf, tagOf) {
  const box = el("div", {class: "text"});
  let at = 0;
  for (const span of [...spans].sort((a, b) => a.start - b.start)) {
    if (span.start < at || span.end > text.length) continue;
    box.append(text.slice(at, span.start));
    const title = span.score === undefined ? (span.type || "") : `${span.type || "span"}: ${percent(span.score)}`;
    const mark = el("mark", {class: classOf(span), title}, text.slice(span.start, span.end));
    const tag = tagOf(span);
    if (tag) mark.append(el("span", {class: "tag"}, tag));
    box.append(mark);
    at = span.end;
  }
  box.append(text.slice(at));
  return box;
}

function entityView(text, entities) {
  return highlighted(text, entities, (e) => colourOf(e.type), (e) => `${e.type} ${percent(e.score)}`);
}

function bars(ranked, label = (r) => r.label) {
  return el("ul", {class: "bars"}, ...ranked.map((r) => el("li", {},
    el("span", {class: "bar-label"}, label(r)),
    el("span", {}, el("span", {class: "bar", style: `width: ${Math.max(1, 100 * r.probability)}%`})),
    el("span", {}, percent(r.probability)))));
}

const views = {
  ner(text, r) {
    return [entityView(text, r.entities),
            el("p", {}, r.entities.length ? `${r.entities.length} entities` : "no entities")];
  },
  joint(text, r) {
    return [el("p", {class: "label"}, `intent: ${r.intent} (${percent(r.probability)})`), entityView(text, r.entities)];
  },
  classification(text, r) {
    const out = [el("p", {class: "label"}, `${r.label} (${percent(r.probability)})`), bars(r.top_k.slice(0, 5))];
    if (r.off_topic !== undefined) {
      out.push(el("p", {}, r.off_topic ? el("span", {class: "flag"}, "off-topic") : "on topic",
                  ` (off-topic score ${Number(r.off_topic_score).toFixed(3)})`));
    }
    if (r.topics) {
      out.push(el("h3", {}, "Top topics"),
               bars(r.topics.map((t) => ({probability: t.weight, words: t.words, topic: t.topic})),
                    (t) => `topic ${t.topic}: ${t.words.slice(0, 6).join(" ")}`));
    }
    return out;
  },
  toxicity(text, r) {
    const out = [];
    if (r.label !== null && r.label !== undefined) {
      out.push(el("p", {class: "label"}, `${r.label} (${percent(r.probability)})`));
    }
    if (r.spans) out.push(el("h3", {}, "Toxic spans"), highlighted(text, r.spans, () => "toxic", (s) => percent(s.score)));
    for (const key of ["masked", "removed", "rewritten"]) {
      if (r[key] !== null && r[key] !== undefined) {
        out.push(el("h3", {}, key), el("p", {class: `version ${key}`}, r[key]));
      }
    }
    return out;
  },
};

function viewFor(task) {
  if (task === "ner") return views.ner;
  if (task === "joint") return views.joint;
  if (task === "toxicity") return views.toxicity;
  if (task === "intent" || task === "topics") return views.classification;
  return (text, r) => [el("pre", {}, JSON.stringify(r, null, 2))];
}

function setUpPredict(info) {
  document.getElementById("predict-view").hidden = false;
  const render = viewFor(info.task);
  document.getElementById("predict-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = document.getElementById("text").value;
    const result = document.getElementById("result");
    showError("");
    try {
      const data = await api("/predict", {texts: [text]});
      const r = data.predictions[0];
      result.replaceChildren(...(r.error ? [el("p", {class: "error"}, r.error)] : render(text, r)));
    } catch (err) {
      showError(err.message);
    }
  });
}

function loadChat() {
  try { return JSON.parse(localStorage.getItem(SESSION_KEY)) || {turns: [], state: {}}; }
  catch { return {turns: [], state: {}}; }
}

function drawChat(chat) {
  document.getElementById("chat-log").replaceChildren(...chat.turns.map((t) =>
    el("div", {class: `turn ${t.who}`}, el("span", {}, t.text))));
  document.querySelector("#state tbody").replaceChildren(...Object.entries(chat.state).map(([slot, value]) =>
    el("tr", {}, el("td", {}, slot), el("td", {}, value))));
}

function setUpChat() {
  document.getElementById("chat-view").hidden = false;
  let chat = loadChat();
  drawChat(chat);
  const save = () => { localStorage.setItem(SESSION_KEY, JSON.stringify(chat)); drawChat(chat); };
  document.getElementById("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("chat-text");
    const text = input.value;
    showError("");
    try {
      const body = chat.session_id ? {session_id: chat.session_id, text} : {text};
      const data = await api("/chat", body);
      if (data.session_id !== chat.session_id) chat = {session_id: data.session_id, turns: [], state: {}};
      chat.turns.push({who: "user", text}, {who: "bot", text: data.reply});
      chat.state = data.state || {};
      input.value = "";
      save();
    } catch (err) {
      showError(err.message);
    }
  });
  document.getElementById("chat-reset").addEventListener("click", () => { chat = {turns: [], state: {}}; save(); });
}

async function main() {
  try {
    const info = await api("/info");
    document.getElementById("model").textContent =
      `task: ${info.task}; model: ${info.model || "(unnamed)"}; ${info.labels ? info.labels.length : 0} labels`;
    if (info.chat) setUpChat(); else setUpPredict(info);
  } catch (err) {
    showError(`cannot read /info: ${err.message}`);
  }
}

document.addEventListener("DOMContentLoaded", main);
