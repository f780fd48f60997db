// The favicon badge: the page's own icon (favicon.svg) drawn on a canvas with
// the unread count of the rooms that are not muted in a red disc, or a grey dot
// when only muted rooms have unread messages. The plain icon when nothing is.
const SIZE = 64;
let base = null;       // the loaded favicon.svg, as an image
let link = null;       // <link rel="icon">
let plainHref = null;
let plainType = null;
let shown = "";        // what is drawn now ("" for the plain icon)
let wanted = { count: 0, dim: false };

function iconLink() {
  if (!link) {
    link = document.querySelector('link[rel="icon"]');
    plainHref = link ? link.href : null;
    plainType = link ? link.type : null;
  }
  return link;
}

function loadBase() {
  if (base) return Promise.resolve(base);
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => { base = img; resolve(img); };
    img.onerror = reject;
    img.src = plainHref;
  });
}

function draw(img, count, dim) {
  const canvas = document.createElement("canvas");
  canvas.width = SIZE;
  canvas.height = SIZE;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0, SIZE, SIZE);
  const r = count ? 20 : 12;
  ctx.beginPath();
  ctx.arc(SIZE - r, r, r, 0, 2 * Math.PI);
  ctx.fillStyle = dim ? "#8b8ea8" : "#dc2626";
  ctx.fill();
  ctx.lineWidth = 4;
  ctx.strokeStyle = "#ffffff";
  ctx.stroke();
  if (count) {
    ctx.fillStyle = "#ffffff";
    ctx.font = "bold " + (count > 9 ? 22 : 28) + "px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(count > 99 ? "99" : String(count), SIZE - r, r + 1);
  }
  return canvas.toDataURL("image/png");
}

// count: unread in rooms not muted; dim: some muted room has unread ones.
export async function setFaviconBadge(count, dim) {
  wanted = { count, dim };
  const icon = iconLink();
  if (!icon || !plainHref) return;
  const key = count ? "n" + count : (dim ? "dim" : "");
  if (key === shown) return;
  if (!key) {
    shown = "";
    icon.type = plainType;
    icon.href = plainHref;
    icon.dataset.badge = "";
    return;
  }
  let img;
  try {
    img = await loadBase();
  } catch {
    return;   // no icon to draw on
  }
  if (wanted.count !== count || wanted.dim !== dim) return;   // a newer call draws
  shown = key;
  icon.type = "image/png";
  icon.href = draw(img, count, dim && !count);
  icon.dataset.badge = key;
}
