// The cnndsl syntax mode: a line tokenizer after grammars/cnn.lark, for highlighting only (the server
// parses; a wrong colour here never changes what a program means).
//
//   # comment              keyword: network input param use block repeat, `as` after `repeat N`
//   stem: conv 3x3x{c} s2 same relu; fc {classes}
//   label  layer dims hole  option layer         hole
//
// words.json holds the keywords and the layer names (tests/test_browser.py checks it against the grammar
// and cnndsl.layers.REGISTRY).

import { StreamLanguage, LanguageSupport, indentUnit } from "@codemirror/language";
import { completeFromList } from "@codemirror/autocomplete";
import words from "./words.json";

const KEYWORDS = new Set(words.keywords.filter((w) => w !== "as")); // `as` is a keyword only after `repeat N`
const LAYERS = new Set(words.layers);

const HOLE = /^\{[^{}\n]*\}/;
const NUMBER = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:x\d*)*/; // 0.2, 1e-4, 3x3x64, 3x3x (before a hole)
const WORD = /^[A-Za-z_][A-Za-z0-9_.+-]*/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

// The state: `head` (the next word starts a statement), `expect` (what the last keyword asked for:
// "name" after network/param, "block" after block, "count" after repeat, "as" after its `as`, "body" when a
// `{` opens a body), `expr` (in an expression: a param's value, a repeat count, a call's arguments: a word
// is a variable there, an option elsewhere), `parens` (open parentheses), `depth` (the open `{` and `<`
// bodies, for indentation).
const start = () => ({ head: true, expect: null, expr: false, parens: 0, depth: 0 });

function token(stream, state) {
  if (stream.sol()) { // a newline ends a statement; a header's `{` is on its line
    state.head = true;
    state.expect = null;
    state.expr = false;
    state.parens = 0;
  }
  if (stream.eatSpace()) return null;
  const ch = stream.peek();
  if (ch === "#") {
    stream.skipToEnd();
    return "comment";
  }
  if (stream.match(/^"[^"\n]*"?/)) return stream.match(/^\s*:/, false) && state.head ? "labelName" : "string";
  if (ch === ";" || ch === "<" || ch === "|") {
    stream.next();
    if (ch === "<") state.depth++;
    state.head = true;
    return ch === ";" ? "punctuation" : "bracket";
  }
  if (ch === ">" || ch === "}") {
    stream.next();
    state.depth = Math.max(0, state.depth - 1);
    state.head = ch === "}";
    return "bracket";
  }
  if (ch === "{") {
    if (state.expect === "body") { // `repeat N {` or `block name(...) {`
      stream.next();
      state.depth++;
      state.expect = null;
      state.expr = false;
      state.head = true;
      return "bracket";
    }
    if (stream.match(HOLE)) {
      if (state.expect === "count") state.expect = "body";
      return "string.special";
    }
  }
  if (["name", "block", "as"].includes(state.expect) && stream.match(NAME)) {
    state.expect = state.expect === "name" ? null : "body";
    return "variableName.definition";
  }
  if (state.head) {
    if (stream.match(/^[A-Za-z0-9_.+-]+(?=\s*:(?!=))/)) return "labelName"; // stays at the head
    const word = stream.match(WORD);
    if (word) {
      const w = word[0];
      state.head = false;
      if (KEYWORDS.has(w)) {
        state.expect = { network: "name", param: "name", block: "block", repeat: "count" }[w] ?? null;
        state.expr = w === "param" || w === "repeat";
        return "keyword";
      }
      if (LAYERS.has(w)) return "typeName";
      return stream.match(/^\s*\(/, false) ? "variableName.function" : "variableName";
    }
  }
  if (state.expect === "body" && stream.match(/^as\b/)) {
    state.expect = "as";
    return "keyword";
  }
  if (stream.match(NUMBER) || (stream.string[stream.pos - 1] === "}" && stream.match(/^(?:x\d*)+/))) {
    if (state.expect === "count") state.expect = "body";
    return "number";
  }
  const word = stream.match(WORD);
  if (word) {
    if (state.expect === "count") state.expect = "body";
    if (stream.match(/^\s*=(?!=)/, false)) return "propertyName"; // r=16, s=2
    if (state.expr || state.parens > 0) return "variableName";
    return LAYERS.has(word[0]) ? "typeName" : "atom"; // relu (folded into the layer), s2, same, nobias
  }
  if (stream.match(/^(?:\/\/|[-+*/%=])/)) return "operator";
  if (ch === "(" || ch === ")") state.parens = Math.max(0, state.parens + (ch === "(" ? 1 : -1));
  stream.next(); // `( ) , :`, and anything the grammar rejects (the server says why)
  return "punctuation";
}

function indent(state, textAfter, cx) {
  const closing = /^\s*[}>|]/.test(textAfter) ? 1 : 0;
  return Math.max(0, state.depth - closing) * cx.unit;
}

const completions = completeFromList([
  ...[...KEYWORDS].map((label) => ({ label, type: "keyword" })),
  ...words.layers.map((label) => ({ label, type: "class", detail: "layer" })),
]);

export const cnnLanguage = StreamLanguage.define({
  name: "cnndsl",
  startState: start,
  copyState: (s) => ({ ...s }),
  token,
  indent,
  languageData: { commentTokens: { line: "#" }, autocomplete: completions, indentOnInput: /^\s*[}>]$/ },
});

export const cnndsl = () => new LanguageSupport(cnnLanguage, [indentUnit.of("  ")]);
