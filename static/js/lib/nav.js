// The site menu on phones: collapsed behind a "Menu" button (without this script it simply wraps).

const header = document.querySelector(".site-header");
const toggle = header && header.querySelector(".nav-toggle");
if (toggle) {
  header.classList.add("js-nav");
  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    header.classList.toggle("nav-open", open);
  });
}
