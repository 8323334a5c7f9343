// The hosted page's reset of a forgotten password (GET /signin): the e-mailed link's token
// is read from the URL's fragment, which no server sees, and taken out of the address bar
// at once; the new password (and a second factor's code when the account asks for one)
// goes to POST /auth/password/reset. Nothing from the URL or the answers is written as
// HTML: text only. The session the reset starts is signed out at once, its tokens not kept.
"use strict";

(() => {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (!token) return; // the page says to open the link from the e-mail
  history.replaceState(null, "", location.pathname + location.search);

  const form = document.getElementById("reset");
  const password = form.elements.new_password;
  const secondFactor = document.getElementById("second-factor");
  const code = form.elements.code;
  const button = form.querySelector("button");
  const message = document.getElementById("message");

  const say = (text, isError = false) => {
    message.textContent = text;
    message.classList.toggle("error", isError);
  };
  const finish = (text, isError = false) => {
    form.hidden = true;
    form.reset();
    say(text, isError);
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { reset_token: token, new_password: password.value };
    const withCode = !secondFactor.hidden;
    if (withCode) body.code = code.value.trim();
    button.disabled = true;
    say("Setting the new password…");
    let answer;
    let data = {};
    try {
      answer = await fetch("auth/password/reset", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Requested-With": "fetch" },
        body: JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
      data = await answer.json().catch(() => ({}));
    } catch {
      say("The service could not be reached. Try again.", true);
      return;
    } finally {
      button.disabled = false;
    }
    if (answer.ok) {
      // The reset answers a fresh session the page has no use for: it signs it out at
      // once (by its refresh token), so that it neither lingers nor takes a place of the
      // account's session limit. Best effort: the password is reset either way.
      if (typeof data.refresh_token === "string") {
        fetch("auth/logout", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Requested-With": "fetch" },
          body: JSON.stringify({ refresh_token: data.refresh_token }),
          credentials: "omit",
          cache: "no-store",
        }).catch(() => {});
      }
      finish("Your password is reset, and every other session has ended. Sign in with the new password.");
    } else if (answer.status === 400 && Array.isArray(data.factors)) {
      if (data.factors.includes("totp") || data.factors.includes("recovery_code")) {
        secondFactor.hidden = false;
        code.required = true;
        code.focus();
        say("Your account has two-step verification: enter a code from your authenticator app, or a recovery code.");
      } else {
        finish("Your account signs in with a passkey: reset the password on your app's own page.", true);
      }
    } else if (answer.status === 401 && withCode) {
      code.value = "";
      code.focus();
      say("The code is incorrect or has been used, or the link has expired.", true);
    } else if (answer.status === 401) {
      finish("This link is invalid or has expired. Ask for a new one.", true);
    } else {
      say(typeof data.error_description === "string" ? data.error_description : "Something went wrong. Try again.", true);
    }
  });

  document.getElementById("no-token").hidden = true;
  form.hidden = false;
  password.focus();
})();
