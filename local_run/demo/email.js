// E-mail from a browser: the account's address (added, then verified with the code mailed
// there), a forgotten password (a link by e-mail, then a new password on this page, with
// the second factor the account has), and signing in with an e-mailed code. Uses demo.js's
// calls (window.sessionDemo); the mailbox (mailbox.js) shows what was sent.
// docs/frontend.md explains each call.
"use strict";

(() => {
  const demo = window.sessionDemo;
  const $ = (id) => document.getElementById(id);
  const mailbox = () => window.sessionMailbox;
  let resetToken = null; // from a reset link's fragment; never left in the address bar
  let loginId = null; // between asking for a sign-in code and entering it
  let accountId = null; // whose account is shown
  let verifying = null; // the account a code was just mailed for (POST /auth/email)

  // Beside the credentials, one of these forms at a time (or none).
  const SIGNED_OUT_FORMS = ["email-login-start", "email-login", "forgot"];
  function only(id) {
    for (const form of SIGNED_OUT_FORMS) $(form).hidden = form !== id;
    if (id) $(id).querySelector("input").focus();
  }

  // -- a forgotten password ----------------------------------------------------------------
  $("forgot-open").addEventListener("click", () => {
    only("forgot");
    demo.show("Give your username or your verified e-mail address.");
  });

  demo.onSubmit("forgot", async (form) => {
    const username = form.username.value.trim();
    const email = form.email.value.trim();
    if (!username === !email) return demo.show("Give your username or your e-mail address, one of them.");
    const response = await demo.send("POST", "/auth/password/forgot", email ? { email } : { username });
    if (!response.ok) return demo.refused(form, response);
    form.reset();
    only(null);
    if (email) mailbox()?.watch(email);
    // 202 whether or not the account exists: the page cannot tell, and says so.
    demo.show("If the account has a verified e-mail address, a reset link is on its way.");
  });

  // The link's secret rides in the fragment (#token=...), which no server ever sees. Read it
  // once, then take it out of the address bar and the history.
  function readFragment() {
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    if (!token) return;
    history.replaceState(null, "", location.pathname + location.search);
    resetToken = token;
    $("reset").reset();
    factorsAsked([]);
    $("password-reset").hidden = false;
    $("reset").new_password.focus();
  }

  // A reset of an account with a second factor asks for it (400 with "factors").
  function factorsAsked(factors) {
    const code = factors.includes("totp") || factors.includes("recovery_code");
    $("reset-code-step").hidden = !code;
    $("reset-code-step").disabled = !code;
    $("reset-passkey").hidden = !factors.includes("passkey");
    if (code) $("reset").code.focus();
  }

  async function reset(form, proof) {
    const body = { reset_token: resetToken, new_password: form.new_password.value, ...proof };
    const response = await demo.send("POST", "/auth/password/reset", body);
    if (response.status === 400) {
      const { factors } = await response.clone().json();
      if (Array.isArray(factors) && !proof.code && !proof.credential) {
        factorsAsked(factors);
        return demo.show(factors.includes("totp")
          ? "This account has two-step verification: enter a code from your app, or a recovery code."
          : "This account has a passkey: use it to reset the password.");
      }
    }
    if (!response.ok) return demo.refused(form, response); // a wrong code leaves the link good
    resetToken = null;
    form.reset();
    $("password-reset").hidden = true;
    demo.signedIn(await response.json());
    if (await demo.render()) demo.show("Password reset. Every other session has ended.");
  }

  demo.onSubmit("reset", (form) => {
    const code = $("reset-code-step").disabled ? "" : form.code.value.trim();
    return reset(form, code ? { code } : {});
  });

  $("reset-passkey").addEventListener("click", () => demo.act(async () => {
    let proof;
    try {
      proof = await window.sessionPasskeys.assertion("");
    } catch (error) {
      return window.sessionPasskeys.failed(error);
    }
    await reset($("reset"), proof);
  }));

  $("reset-cancel").addEventListener("click", () => {
    resetToken = null;
    $("reset").reset();
    $("password-reset").hidden = true;
    demo.show("The password was not changed.");
  });

  window.addEventListener("hashchange", readFragment); // a link of this page, from the mailbox
  readFragment();

  // -- signing in with an e-mailed code (EMAIL_SIGN_IN=on) ---------------------------------
  $("email-login-open").addEventListener("click", () => {
    only("email-login-start");
    demo.show("Give the verified e-mail address of your account.");
  });

  demo.onSubmit("email-login-start", async (form) => {
    const email = form.email.value.trim();
    const response = await demo.send("POST", "/auth/email/login/start", { email });
    if (!response.ok) return demo.refused(form, response);
    loginId = (await response.json()).login_id;
    form.reset();
    only("email-login");
    mailbox()?.watch(email);
    // 202 for any address: the page cannot tell whether one was sent.
    demo.show("If the address belongs to an account, a code is on its way.");
  });

  demo.onSubmit("email-login", async (form) => {
    const body = { login_id: loginId, code: form.code.value.trim() };
    const response = await demo.send("POST", "/auth/email/login", body);
    // The code was right and the account has a second factor: demo.js asks for it.
    if (await demo.secondStepAsked(response, "")) return done(form);
    if (!response.ok) return demo.refused(form, response); // 5 wrong codes spend the login
    done(form);
    demo.signedIn(await response.json());
    if (await demo.render()) demo.show("Signed in.");
  });

  function done(form) {
    loginId = null;
    form.reset();
    only(null);
  }

  // -- the account's address ---------------------------------------------------------------
  async function render() {
    const response = await demo.api("GET", "/auth/account");
    if (!response.ok) return;
    const account = await response.json();
    accountId = account.user_id;
    $("account-username").textContent = account.username;
    $("account-email").textContent = account.email || "none";
    $("account-email-status").textContent =
      !account.email ? "" : account.email_verified ? "(verified)" : "(not verified)";
    const unverified = account.email && !account.email_verified;
    $("email-verify").hidden = !(unverified || verifying === accountId);
    if (account.email) mailbox()?.suggest(account.email);
  }

  demo.onSubmit("email-add", async (form) => {
    const email = form.email.value.trim();
    // Needs a recent sign-in: demo.api asks the user to confirm it's them, then retries.
    const response = await demo.api("POST", "/auth/email", { email });
    if (!response.ok) return demo.refused(form, response);
    form.reset();
    verifying = accountId;
    $("email-verify").hidden = false;
    $("email-verify").code.focus();
    mailbox()?.watch(email);
    demo.show(`A code is on its way to ${email}.`);
  });

  demo.onSubmit("email-verify", async (form) => {
    const response = await demo.api("POST", "/auth/email/verify", { code: form.code.value.trim() });
    if (!response.ok) return demo.refused(form, response);
    form.reset();
    verifying = null;
    await render();
    demo.show("Your e-mail address is verified.");
  });

  window.sessionEmail = Object.freeze({ render });
})();
