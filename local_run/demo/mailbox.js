// The local run's mailbox: what the service e-mailed to an address, as the SES emulator
// received it (GET /demo/mailbox?to=, served by the local run only), newest first, with
// each message's links clickable. Once opened it watches for new mail for a while: the
// service sends its messages a moment after the request that asks for them.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const WATCH_SECONDS = 120;
  const POLL_MILLISECONDS = 1500;
  let address = "";
  let shown = ""; // the messages on screen, to redraw only when they change
  let watchUntil = 0;
  let watching = 0; // which watch is current: an older one's answers are dropped
  let timer = 0;

  function watch(to) {
    address = to.trim();
    $("mailbox-open").to.value = address;
    shown = "";
    $("mailbox-messages").replaceChildren();
    watchUntil = Date.now() + WATCH_SECONDS * 1000;
    clearTimeout(timer);
    poll(++watching);
  }

  async function poll(generation) {
    try {
      await load(generation);
    } catch (error) {
      $("mailbox-state").textContent = `The mailbox cannot be read: ${error.message}`;
    }
    if (generation === watching && Date.now() < watchUntil) {
      timer = setTimeout(() => poll(generation), POLL_MILLISECONDS);
    }
  }

  async function load(generation) {
    const response = await fetch(`mailbox?to=${encodeURIComponent(address)}`);
    const body = await response.json();
    if (generation !== watching) return;
    if (!response.ok) {
      $("mailbox-state").textContent = body.error_description || `${response.status} ${response.statusText}`;
      return;
    }
    const key = JSON.stringify(body.messages);
    if (key !== shown) {
      shown = key;
      $("mailbox-messages").replaceChildren(...body.messages.map(message));
    }
    const count = body.messages.length;
    const still = Date.now() < watchUntil ? " Watching for new mail…" : "";
    $("mailbox-state").textContent = `${count || "No"} message${count === 1 ? "" : "s"} to ${address}.${still}`;
  }

  function message(mail) {
    const item = document.createElement("li");
    item.className = "mail";
    const subject = document.createElement("h3");
    subject.className = "mail-subject";
    subject.textContent = mail.subject || "(no subject)";
    const meta = document.createElement("p");
    meta.className = "mail-meta";
    meta.textContent = `To ${mail.to}, ${window.sessionDemo.when(mail.sent_at)}`;
    meta.title = mail.sent_at;
    const text = document.createElement("pre");
    text.className = "mail-text";
    // The plain-text part, its links made clickable; the HTML part is never rendered here
    // (only its text is read when a message has no plain part).
    text.append(...linked(mail.text ?? textOf(mail.html)));
    item.append(subject, meta, text);
    return item;
  }

  // The text as text nodes, and each http(s) URL in it as a link (a sentence's final dot
  // or bracket stays out of the URL).
  function linked(text) {
    return text.split(/(https?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]])/).map((part, index) => {
      if (index % 2 === 0) return document.createTextNode(part);
      const link = document.createElement("a");
      link.href = part;
      link.textContent = part;
      link.rel = "noopener noreferrer";
      return link;
    });
  }

  function textOf(html) {
    return html ? new DOMParser().parseFromString(html, "text/html").body.textContent : "";
  }

  $("mailbox-open").addEventListener("submit", (event) => {
    event.preventDefault();
    watch(event.target.to.value);
  });

  // For email.js: watch an address mail was just sent to; offer the account's own.
  window.sessionMailbox = Object.freeze({
    watch,
    suggest: (to) => {
      if (!address && !$("mailbox-open").to.value) $("mailbox-open").to.value = to;
    },
  });
})();
