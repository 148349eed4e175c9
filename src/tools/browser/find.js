// Finds the element a person means by `query`: for "click", a button, link or other control by its
// visible text, aria-label, title or value; for "type", a text field by its label, aria-label,
// placeholder or name. A CSS selector works for both. Exact matches (ignoring case and spacing)
// win over partial ones, visible elements over hidden ones. Returns the element's centre in the
// viewport after scrolling it into view, or, when nothing matches, what could have been meant.
(function (query, purpose) {
  const norm = (s) => (s || "").replace(/\s+/g, " ").trim().toLowerCase();
  const wanted = norm(query);
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && style.visibility !== "hidden" && style.display !== "none";
  };
  const describe = (el) => {
    const tag = el.tagName.toLowerCase();
    const text = norm(el.innerText || el.value || el.getAttribute("aria-label") || el.placeholder || "");
    return text ? `${tag} "${text.slice(0, 60)}"` : tag;
  };
  const labelsOf = (el) => {
    const names = [];
    if (el.labels) for (const l of el.labels) names.push(l.innerText);
    names.push(el.getAttribute("aria-label"), el.placeholder, el.name, el.id, el.title);
    const by = el.getAttribute("aria-labelledby");
    if (by) for (const id of by.split(/\s+/)) {
      const l = document.getElementById(id);
      if (l) names.push(l.innerText);
    }
    return names.map(norm).filter(Boolean);
  };
  const clickNames = (el) => [el.innerText, el.value, el.getAttribute("aria-label"), el.title, el.alt]
    .map(norm).filter(Boolean);
  const fields = 'input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=checkbox]):not([type=radio]), textarea, [contenteditable=""], [contenteditable=true]';
  const controls = 'button, a, [role=button], [role=link], [role=tab], [role=menuitem], input[type=submit], input[type=button], input[type=checkbox], input[type=radio], summary, label, [onclick], li, option';
  const pool = Array.from(document.querySelectorAll(purpose === "type" ? fields : controls));
  const names = purpose === "type" ? labelsOf : clickNames;
  const score = (el) => {
    const all = names(el);
    if (all.some((n) => n === wanted)) return 3;
    if (all.some((n) => n.startsWith(wanted))) return 2;
    if (all.some((n) => n.includes(wanted))) return 1;
    return 0;
  };
  // Real controls rank above list items, labels and options that merely hold the same text; of
  // two equally good matches, one inside the other, the inner one is what a person clicks.
  const control = (el) => el.matches("button, a, input, textarea, [role=button], [role=link], [contenteditable]");
  let best = null;
  let bestScore = 0;
  for (const el of pool) {
    const matched = score(el);
    if (matched < 1) continue;
    const s = matched + (visible(el) ? 0.5 : 0) + (control(el) ? 0.25 : 0);
    if (s > bestScore || (s === bestScore && best && best.contains(el))) {
      best = el;
      bestScore = s;
    }
  }
  if (!best) {
    try {
      best = Array.from(document.querySelectorAll(query)).find(visible) || document.querySelector(query);
    } catch (e) {
      best = null;
    }
  }
  if (best && purpose === "type" && best.tagName === "LABEL") {
    best = best.control || best;
  }
  if (!best) {
    const offered = pool.filter(visible).map(describe).filter((d, i, all) => all.indexOf(d) === i);
    return JSON.stringify({ found: false, offered: offered.slice(0, 15) });
  }
  best.scrollIntoView({ block: "center", inline: "center" });
  const r = best.getBoundingClientRect();
  if (purpose === "type") {
    best.focus();
    if (typeof best.select === "function") best.select();
  }
  return JSON.stringify({
    found: true,
    visible: visible(best),
    x: r.left + r.width / 2,
    y: r.top + r.height / 2,
    description: describe(best),
  });
})
