// Shared page helpers. Cookie-authenticated writes must carry the CSRF token of the session.
(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : null;
  window.safeground = {
    csrf,
    api(path, options = {}) {
      const headers = Object.assign({ Accept: 'application/json' }, options.headers || {});
      if (csrf && options.method && options.method !== 'GET') headers['X-CSRF-Token'] = csrf;
      return fetch(path, Object.assign({}, options, { headers, credentials: 'same-origin' }));
    },
  };
  // Forms that post to the app (logout) carry the token as a header via fetch.
  document.querySelectorAll('form#logout-form').forEach((form) => {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      await window.safeground.api('/logout', { method: 'POST' });
      window.location = '/login';
    });
  });
})();
