// Message bodies as Markdown: the contract's subset (emphasis, strong,
// strikethrough, inline code, code blocks, links, block quotes, lists) turned
// into elements on the page. markdown-it (raw HTML off) makes the markup,
// DOMPurify (an allow-list of those elements, `href` the only attribute, and
// only http:, https: and mailto: URLs) turns it into a DOM fragment, so
// nothing but those elements ever reaches the page. Both are vendored
// (static/vendor/README.md) and loaded as classic scripts before the modules.
// The server stores a body as written; REST callers get it raw.

const LINK = /^(?:https?:|mailto:)/i;
const TAGS = ["p", "br", "em", "strong", "s", "code", "pre", "a", "blockquote", "ul", "ol", "li"];
export const LINK_REL = "noopener noreferrer nofollow";

let md = null;
let purify = null;

function renderer() {
  if (md) return md;
  // "zero" has every rule off; turn on the subset only (no headings, tables,
  // images, rules or raw HTML).
  md = window.markdownit("zero", { html: false, linkify: true, breaks: true, typographer: false });
  md.enable(["blockquote", "code", "fence", "list", "emphasis", "strikethrough", "backticks",
    "link", "autolink", "linkify", "escape", "entity", "newline"]);
  // Bare URLs only with their scheme: "main.py" or "a@b.co" stay text.
  md.linkify.set({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false });
  // A link to anything else stays as the text it was written as.
  md.validateLink = (url) => LINK.test(url.trim());
  purify = window.DOMPurify(window);
  purify.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName !== "A") return;
    if (node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", LINK_REL);
    }
  });
  return md;
}

// The body of a message as a fragment of the allowed elements (text only when
// the libraries are missing).
export function renderMarkdown(text) {
  if (!window.markdownit || !window.DOMPurify) {
    const fragment = document.createDocumentFragment();
    fragment.append(document.createTextNode(text));
    return fragment;
  }
  // Without the line break after the last block, the body's text is the text.
  const markup = renderer().render(text).replace(/\n+$/, "");
  return purify.sanitize(markup, {
    ALLOWED_TAGS: TAGS,
    ALLOWED_ATTR: ["href", "start"],
    ALLOWED_URI_REGEXP: LINK,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  });
}

// Text nodes of `root` outside code and links, for marks such as @mentions.
export function proseTextNodes(root) {
  const nodes = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => {
      const skip = node.parentElement && node.parentElement.closest("code, pre, a");
      return skip && root.contains(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
    },
  });
  while (walker.nextNode()) nodes.push(walker.currentNode);
  return nodes;
}
