// Logging out forgets everything the page knew about the user, in one place:
// each module that keeps such state registers how to forget it, here, when it
// loads, and logging out runs them all (resetClient). The phases keep the one
// order that matters: what still tells the server something (the typing stop)
// goes before the socket closes, and what redraws the page from the forgotten
// state comes last.
const PHASES = ["tell", "disconnect", "forget", "redraw"];
const resets = new Map(PHASES.map((phase) => [phase, []]));

export function onReset(fn, phase = "forget") {
  const list = resets.get(phase);
  if (!list) throw new Error("unknown reset phase: " + phase);
  list.push(fn);
}

export function resetClient() {
  PHASES.forEach((phase) => resets.get(phase).forEach((fn) => fn()));
}
