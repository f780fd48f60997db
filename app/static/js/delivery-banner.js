// `delivery {live}`: while the server cannot pass on live events from other
// instances, a banner says so and the page catches up by itself every few
// seconds (`sync` for the open room, the room list for the others' counts);
// when live delivery is back it hides the banner and catches up once more.
import { $ } from "./dom.js";
import { onReset } from "./reset.js";

const CATCH_UP_MS = 3000;
let paused = false;
let timer = null;
let catchUp = () => Promise.resolve();

// `fn()` catches the open and joined rooms up (connection.js gives it).
export function setCatchUp(fn) { catchUp = fn; }

function render() {
  $("delivery-banner").hidden = !paused;
  document.body.classList.toggle("delivery-paused", paused);
}

function schedule() {
  clearTimeout(timer);
  if (!paused) return;
  timer = setTimeout(async () => {
    await catchUp().catch(() => {});
    schedule();
  }, CATCH_UP_MS);
}

// Server event `delivery`.
export function onDelivery(data) {
  const live = !data || data.live !== false;
  if (live === !paused) return;
  paused = !live;
  render();
  catchUp().catch(() => {});   // at once, whichever way it changed
  schedule();
}

// The connection dropped (its next instance says if it cannot reach the
// queue), or I logged out.
export function resetDelivery() {
  paused = false;
  clearTimeout(timer);
  render();
}

onReset(resetDelivery);
