// The editor: CodeMirror 6 with the cnndsl mode, a light or dark theme, and the server's errors as lint
// diagnostics (squiggles with the message and hint in a tooltip).

import { basicSetup } from "codemirror";
import { EditorView } from "@codemirror/view";
import { Annotation, Compartment, EditorState } from "@codemirror/state";
import { autocompletion } from "@codemirror/autocomplete";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { oneDark } from "@codemirror/theme-one-dark";
import { cnndsl } from "./language.js";

const external = Annotation.define(); // a change that came from disk, not from the keyboard

// Offset in `doc` of a 1-based LINE:COL whose column counts code points (as Python does), clamped to the
// document; CodeMirror counts UTF-16 units.
function offset(doc, line, col) {
  if (line < 1) return 0;
  if (line > doc.lines) return doc.length;
  const { from, text } = doc.line(line);
  let at = 0;
  for (const ch of text) {
    if (--col < 1) break;
    at += ch.length;
  }
  return from + at;
}

export function createEditor(parent, onEdit) {
  const theme = new Compartment();
  let dark = false;
  const extensions = () => [
    basicSetup,
    autocompletion({ selectOnOpen: false }), // Enter ends the line; arrows pick a completion
    lintGutter(),
    cnndsl(),
    EditorView.lineWrapping,
    theme.of(dark ? oneDark : []),
    EditorView.updateListener.of((update) => {
      if (update.docChanged) onEdit(!update.transactions.some((tr) => tr.annotation(external)));
    }),
  ];
  const view = new EditorView({ parent, state: EditorState.create({ extensions: extensions() }) });

  return {
    view,
    text: () => view.state.doc.toString(),
    // A new document (its own undo history).
    open(text) {
      view.setState(EditorState.create({ doc: text, extensions: extensions() }));
      onEdit(false);
    },
    // The same document changed on disk: one undoable change, the cursor kept where it can be.
    reload(text) {
      const head = Math.min(view.state.selection.main.head, text.length);
      view.dispatch({
        changes: { from: 0, to: view.state.doc.length, insert: text },
        selection: { anchor: head },
        annotations: external.of(true),
      });
    },
    setDark(on) {
      dark = on;
      view.dispatch({ effects: theme.reconfigure(on ? oneDark : []) });
    },
    // Errors (the API's `errors`) for the document `doc` they were computed from; none if it changed since.
    showErrors(doc, errors) {
      if (doc !== view.state.doc) return;
      const diagnostics = errors.filter((e) => e.line > 0).map((e) => {
        const from = offset(doc, e.line, e.col);
        const to = Math.max(from, offset(doc, e.end_line, e.end_col));
        return {
          from,
          to: to > from ? to : Math.min(from + 1, doc.length),
          severity: "error",
          source: "cnndsl",
          message: e.hint ? `${e.message}\nhint: ${e.hint}` : e.message,
        };
      });
      view.dispatch(setDiagnostics(view.state, diagnostics));
    },
    select(line, col) {
      const at = offset(view.state.doc, line, col);
      view.dispatch({ selection: { anchor: at }, scrollIntoView: true });
      view.focus();
    },
  };
}
