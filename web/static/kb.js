// Adds a passage to a pack without leaving the page. Without this file the same form posts and
// the page comes back, so nothing depends on it. Text from the server is set as text, never as HTML.
"use strict";

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.add-to-pack");
  if (!form) return;
  event.preventDefault();
  const status = form.querySelector(".add-status");
  const button = form.querySelector("button[type=submit]");
  // aria-disabled, not disabled: a disabled button loses focus to the page, and the keyboard user their place.
  if (button.getAttribute("aria-disabled") === "true") return;
  button.setAttribute("aria-disabled", "true");
  status.textContent = "Adding…";
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || "the passage could not be added");
    showAdded(status, answer);
    rememberPack(answer.pack);
  } catch (error) {
    status.textContent = `Not added: ${error.message}`;
  } finally {
    button.removeAttribute("aria-disabled");
  }
});

function showAdded(status, answer) {
  const count = `${answer.passages} passage${answer.passages === 1 ? "" : "s"}`;
  status.textContent = `${answer.added ? "Added to" : "Already in"} “${answer.pack}” (${count}). `;
  const link = document.createElement("a");
  link.href = answer.url;
  link.textContent = "Open the pack";
  status.append(link);
}

// The next "Add" goes to the same pack, as it would after the page came back.
function rememberPack(name) {
  for (const input of document.querySelectorAll("form.add-to-pack input[name=pack]")) input.value = name;
  const names = document.getElementById("pack-names");
  if (names && ![...names.options].some((option) => option.value === name)) {
    const option = document.createElement("option");
    option.value = name;
    names.append(option);
  }
}
