"""Writes the small sample data shipped with the repo (invented sentences; no public corpus text).

    python samples/make_samples.py   # rewrites samples/{ner,intent,joint,toxicity,topics}/*
"""

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
PER = ["Anna Keller", "Tomas Brandt", "Mira Osei", "Jonas Weber", "Lena Fischer", "Ravi Menon", "Sofia Lind",
       "Karl Novak", "Ines Duarte", "Omar Haddad", "Yuki Tanaka", "Paul Meyer"]
ORG = ["Nordbank", "Helios Motors", "the Tallinn Port Authority", "Vireo Labs", "Atlas Foods", "Quanta Air",
       "the Harbour Council", "Greenfield United", "Orbis Media", "Kestrel Energy"]
LOC = ["Lisbon", "Oslo", "Nairobi", "Porto", "Tallinn", "Quebec", "Kyoto", "Valencia", "Gdansk", "Cork"]
MISC = ["Danish", "Portuguese", "Olympic", "Nordic", "Kenyan", "Japanese", "Euro Cup", "Baltic"]
NER_TEMPLATES = [
    "{PER} said on Monday that {ORG} would open an office in {LOC} .",
    "{ORG} shares rose 3 percent in {LOC} after the {MISC} results .",
    "{PER} , who joined {ORG} in 2019 , will lead the {LOC} team .",
    "The {MISC} delegation met {PER} in {LOC} on Tuesday .",
    "{LOC} police said {PER} was not injured .",
    "{ORG} beat {ORG} 2-1 in {LOC} .",
    "Officials in {LOC} welcomed the {MISC} proposal .",
    "{PER} told reporters the deal with {ORG} was finished .",
    "Prices in {LOC} fell for a third month , {ORG} said .",
    "The weather was mild and trading was quiet .",
]
INTENTS = {
    "book_table": ["book a table for {n} at {place}", "reserve a table at {place} tonight",
                   "can i get a table for {n} people", "i need a dinner reservation for {n}"],
    "weather": ["what's the weather in {city}", "will it rain in {city} tomorrow", "is it cold outside today",
                "weather forecast for {city} this weekend"],
    "play_music": ["play some {genre}", "put on {genre} music", "i want to hear {genre}", "start my {genre} playlist"],
    "set_alarm": ["set an alarm for {t}", "wake me up at {t}", "alarm at {t} please", "remind me at {t} to leave"],
    "flight_status": ["is flight {f} on time", "status of flight {f}", "when does flight {f} land",
                      "has flight {f} been delayed"],
    "greeting": ["hello there", "hi how are you", "good morning", "hey assistant"],
}
SLOT_TYPES = {"n": "party_size", "place": "restaurant", "city": "city", "genre": "genre", "t": "time", "f": "flight"}
FILL = {"n": ["2", "four", "6", "two"], "place": ["roma", "the blue door", "sakura", "chez marie"],
        "city": ["lisbon", "oslo", "kyoto", "cork"], "genre": ["jazz", "rock", "classical", "hip hop"],
        "t": ["7 am", "6:30", "noon", "9 pm"], "f": ["ba 117", "lh 402", "tp 9", "ua 88"]}


def entity_tags(kind: str, words: list[str]) -> list[str]:
    return [f"{'B' if i == 0 else 'I'}-{kind}" for i in range(len(words))]


def ner_sentence(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for piece in rng.choice(NER_TEMPLATES).split():
        kind = piece.strip("{}") if piece.startswith("{") else None
        if kind:
            words = rng.choice({"PER": PER, "ORG": ORG, "LOC": LOC, "MISC": MISC}[kind]).split()
            if words[0] == "the":
                out.append(("the", "O"))
                words = words[1:]
            out.extend(zip(words, entity_tags(kind, words), strict=True))
        else:
            out.append((piece, "O"))
    return out


def write_ner(path: Path, n_docs: int, rng: random.Random) -> None:
    lines = []
    for _ in range(n_docs):
        lines += ["-DOCSTART- -X- O", ""]
        for _ in range(rng.randint(3, 6)):
            lines += [f"{w} _ {t}" for w, t in ner_sentence(rng)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_intent(path: Path, per_intent: int, rng: random.Random) -> None:
    rows = []
    for label, templates in INTENTS.items():
        for _ in range(per_intent):
            text = rng.choice(templates)
            for key, values in FILL.items():
                text = text.replace("{" + key + "}", rng.choice(values))
            rows.append({"text": text, "label": label})
    rng.shuffle(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_joint(path: Path, per_intent: int, rng: random.Random) -> None:
    """Inline-annotated Markdown (pipelines.data.inline): the intent templates with their slots marked."""
    lines = []
    for label, templates in INTENTS.items():
        lines += [f"## intent: {label}"]
        for _ in range(per_intent):
            text = rng.choice(templates)
            for key, values in FILL.items():
                text = text.replace("{" + key + "}", f"[{rng.choice(values)}]({SLOT_TYPES[key]})")
            lines.append(f"- {text}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


# Mild, invented insults only (the real corpora stay in ../shared/data): enough for a model to learn the task.
INSULTS = ["idiot", "moron", "clown", "loser", "dimwit", "fool", "numbskull", "halfwit"]
ADJ = ["stupid", "dumb", "pathetic", "brainless"]
TOPICS = ["new bridge", "budget plan", "bus schedule", "school board vote", "park cleanup", "tax proposal",
          "city council", "parking rule", "library hours", "recycling program"]
RUDE = ["only a {i} would support the {t}", "you are a {a} {i} if you believe the {t} works",
        "what a {a} take on the {t}", "the mayor is a {i} and the {t} proves it", "stop posting, {i}",
        "this {a} {t} was written by a {i}", "anyone who likes the {t} is {a}"]
POLITE = ["the {t} looks good to me", "thanks for explaining the {t}", "i disagree with the {t} but it has "
          "some merit", "can someone share the numbers on the {t}", "the {t} meeting is on tuesday",
          "i think the {t} needs more public input", "great reporting on the {t}"]


def write_toxicity(path: Path, n: int, rng: random.Random) -> None:
    """JSON Lines with a post `label` (offensive / neither) and `spans`, character offsets of the insults."""
    rows = []
    for k in range(n):
        rude = k % 2 == 0
        template = rng.choice(RUDE if rude else POLITE)
        text, offsets = "", []
        for part in template.replace("{", "\0{").replace("}", "}\0").split("\0"):
            if part in ("{i}", "{a}"):
                word = rng.choice(INSULTS if part == "{i}" else ADJ)
                offsets += range(len(text), len(text) + len(word))
                text += word
            else:
                text += part.replace("{t}", rng.choice(TOPICS))
        rows.append({"text": text, "label": "offensive" if rude else "neither", "spans": offsets})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


SECTIONS = {  # short invented news items, a handful of sentences each, in four sections
    "sport": ["The home side scored twice in the second half to win the match.",
              "The coach said the players had trained hard all week.",
              "Fans filled the stadium despite the cold rain.",
              "The striker missed a penalty before the goalkeeper saved a late shot.",
              "The league table now shows three clubs level on points.",
              "The runner set a new record in the final race of the season.",
              "Injuries left the team without its captain for the cup game.",
              "The referee showed two red cards in a tense derby."],
    "technology": ["The company released a faster chip for laptops and phones.",
                   "Engineers fixed a software bug that drained the battery.",
                   "The new app lets users share files over an encrypted network.",
                   "Analysts expect cloud computing revenue to grow next year.",
                   "The startup trained a model on millions of images.",
                   "A security flaw in the browser was patched on Tuesday.",
                   "The device connects to the internet through a cheap sensor.",
                   "Developers can now test the code on the open platform."],
    "food": ["The chef cooked the fish with lemon, garlic and fresh herbs.",
             "The bakery sells bread made from local flour every morning.",
             "Add the tomatoes and simmer the sauce for twenty minutes.",
             "The restaurant serves a spicy soup with rice and beans.",
             "The recipe needs butter, sugar, eggs and a pinch of salt.",
             "Farmers brought cheese and apples to the weekly market.",
             "The dessert of chocolate and cream was the favourite dish.",
             "Roast the vegetables in the oven until they turn golden."],
    "politics": ["The minister announced a new budget for schools and hospitals.",
                 "Parliament voted on the election law late on Thursday.",
                 "The opposition party criticised the government over taxes.",
                 "Voters in the region will choose a new mayor next month.",
                 "The president met foreign leaders to discuss the treaty.",
                 "The committee published a report on public spending.",
                 "Senators debated the reform of the pension system.",
                 "The prime minister promised to cut the cost of energy."],
}


def write_topics(path: Path, per_label: int, rng: random.Random) -> None:
    """`<label>/<nnn>.txt` documents: a headline-like first line, then 4-6 sentences of the label's section
    and one sentence from another section (documents are not pure)."""
    labels = sorted(SECTIONS)
    for label in labels:
        folder = path / label
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.txt"):
            old.unlink()
        for i in range(per_label):
            body = rng.sample(SECTIONS[label], rng.randint(4, 6))
            other = rng.choice([x for x in labels if x != label])
            body.insert(rng.randrange(len(body) + 1), rng.choice(SECTIONS[other]))
            headline = body[0].rstrip(".")
            (folder / f"{i + 1:03d}.txt").write_text(f"{headline}\n\n" + " ".join(body) + "\n", encoding="utf-8")


if __name__ == "__main__":
    rng = random.Random(2026)
    (HERE / "ner").mkdir(exist_ok=True)
    (HERE / "intent").mkdir(exist_ok=True)
    for split, docs in (("train", 120), ("dev", 12), ("test", 12)):
        write_ner(HERE / "ner" / f"{split}.conll", docs, rng)
    for split, n in (("train", 60), ("dev", 10), ("test", 10)):
        write_intent(HERE / "intent" / f"{split}.jsonl", n, rng)
    (HERE / "joint").mkdir(exist_ok=True)
    for split, n in (("train", 60), ("dev", 10), ("test", 10)):
        write_joint(HERE / "joint" / f"{split}.md", n, rng)
    (HERE / "toxicity").mkdir(exist_ok=True)
    for split, n in (("train", 200), ("dev", 40), ("test", 40)):
        write_toxicity(HERE / "toxicity" / f"{split}.jsonl", n, rng)
    topics_rng = random.Random(17)  # its own generator: the samples above stay as they were
    for split, n in (("train", 24), ("test", 6)):
        write_topics(HERE / "topics" / split, n, topics_rng)
