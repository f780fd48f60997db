// The footer's "Served by instance ...": from every REST answer and /healthz.
import { $ } from "./dom.js";

export function noteInstance(id) {
  if (!id) return;
  const node = $("instance");
  if (node.textContent !== id) node.textContent = id;
  node.setAttribute("data-instance", id);
}

export async function refreshInstance() {
  try {
    const res = await fetch("/healthz", { cache: "no-store" });
    noteInstance(res.headers.get("X-Instance"));
    const data = await res.json();
    if (data && data.instance) noteInstance(data.instance);
  } catch {
    // The socket's state already says we are offline.
  }
}
