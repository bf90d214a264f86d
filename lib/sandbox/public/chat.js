/* WhatsApp sandbox chat page: plain script, no build step. Every endpoint is called with a RELATIVE url so the page
   works standalone (/chat/) and under Node-RED's admin root; the editor's admin token is sent when there is one. */
(() => {
  const TEXTS = {
    en: {
      title: 'WhatsApp sandbox',
      skipToComposer: 'Skip to the message field',
      setupHeading: 'You play the customer',
      businessNumber: 'Business number',
      customer: 'Customer',
      addCustomer: 'Add a customer',
      phone: 'Phone number (with country code)',
      name: 'Name (optional)',
      userId: 'WhatsApp user id (optional, for a username), e.g. DE.1234567890',
      hideNumber: 'Hide my number: the business sees only my username',
      invalidUserId: 'A WhatsApp user id looks like DE.1234567890.',
      hideNeedsUserId: 'To hide the number, enter a user id too.',
      userIdTaken: 'Another customer already has this user id.',
      numberHidden: 'number hidden',
      add: 'Add',
      conversation: 'Conversation',
      empty: 'No messages yet. Write something, or let the business send first.',
      messageLabel: 'Message',
      messagePlaceholder: 'Type a message',
      send: 'Send',
      otherLanguage: 'Deutsch',
      noNumbers: 'No business number is registered with the sandbox yet.',
      noCustomer: 'Add a customer first.',
      chooseCustomer: 'Choose a customer',
      business: 'Business',
      you: 'You',
      template: 'Template',
      params: 'Parameters',
      replyTo: 'Reply to',
      openList: 'Show options',
      closeList: 'Hide options',
      windowOpen: 'Service window open: the business may send any message until {time}.',
      windowClosed: 'Service window closed: the business may only send templates until you write.',
      stopMarketing: 'Stop marketing messages',
      resumeMarketing: 'Resume marketing messages',
      marketingStopped: 'You stopped marketing messages.',
      changeNumber: 'Change my number',
      newNumber: 'New phone number (with country code)',
      changeNumberSubmit: 'Change number',
      numberChanged: 'WhatsApp told the business that you moved to +{number}. Webhook answered: {statuses}',
      sentOk: 'Sent. Webhook answered: {statuses}',
      noWebhook: 'Sent, but no webhook URL is configured.',
      invalidPhone: 'Please enter a phone number with country code, e.g. +49 151 23456789.',
      failed: 'That did not work: {message}',
      status_accepted: 'accepted',
      status_sent: 'sent',
      status_delivered: 'delivered',
      status_read: 'read',
      status_failed: 'failed',
      status_received: 'received by the business',
      media_image: 'Image',
      media_video: 'Video',
      media_audio: 'Audio',
      media_document: 'Document',
      media_sticker: 'Sticker',
      link: 'Link',
    },
    de: {
      title: 'WhatsApp-Sandbox',
      skipToComposer: 'Zum Nachrichtenfeld springen',
      setupHeading: 'Sie spielen den Kunden',
      businessNumber: 'Unternehmensnummer',
      customer: 'Kunde',
      addCustomer: 'Kunden hinzufügen',
      phone: 'Telefonnummer (mit Ländervorwahl)',
      name: 'Name (optional)',
      userId: 'WhatsApp-Benutzer-ID (optional, für einen Nutzernamen), z. B. DE.1234567890',
      hideNumber: 'Meine Nummer verbergen: Das Unternehmen sieht nur meinen Nutzernamen',
      invalidUserId: 'Eine WhatsApp-Benutzer-ID sieht so aus: DE.1234567890.',
      hideNeedsUserId: 'Um die Nummer zu verbergen, bitte auch eine Benutzer-ID eingeben.',
      userIdTaken: 'Ein anderer Kunde hat diese Benutzer-ID bereits.',
      numberHidden: 'Nummer verborgen',
      add: 'Hinzufügen',
      conversation: 'Unterhaltung',
      empty: 'Noch keine Nachrichten. Schreiben Sie etwas, oder lassen Sie das Unternehmen zuerst schreiben.',
      messageLabel: 'Nachricht',
      messagePlaceholder: 'Nachricht eingeben',
      send: 'Senden',
      otherLanguage: 'English',
      noNumbers: 'In der Sandbox ist noch keine Unternehmensnummer registriert.',
      noCustomer: 'Bitte zuerst einen Kunden hinzufügen.',
      chooseCustomer: 'Kunden wählen',
      business: 'Unternehmen',
      you: 'Sie',
      template: 'Vorlage',
      params: 'Parameter',
      replyTo: 'Antwort auf',
      openList: 'Optionen zeigen',
      closeList: 'Optionen ausblenden',
      windowOpen: 'Servicefenster offen: Das Unternehmen darf bis {time} beliebige Nachrichten senden.',
      windowClosed: 'Servicefenster geschlossen: Das Unternehmen darf nur Vorlagen senden, bis Sie schreiben.',
      stopMarketing: 'Werbenachrichten stoppen',
      resumeMarketing: 'Werbenachrichten wieder erlauben',
      marketingStopped: 'Sie haben Werbenachrichten gestoppt.',
      changeNumber: 'Meine Nummer wechseln',
      newNumber: 'Neue Telefonnummer (mit Ländervorwahl)',
      changeNumberSubmit: 'Nummer wechseln',
      numberChanged:
        'WhatsApp hat dem Unternehmen mitgeteilt, dass Sie zu +{number} gewechselt sind. Webhook antwortete: {statuses}',
      sentOk: 'Gesendet. Webhook antwortete: {statuses}',
      noWebhook: 'Gesendet, aber es ist keine Webhook-URL eingerichtet.',
      invalidPhone: 'Bitte eine Telefonnummer mit Ländervorwahl eingeben, z. B. +49 151 23456789.',
      failed: 'Das hat nicht geklappt: {message}',
      status_accepted: 'angenommen',
      status_sent: 'gesendet',
      status_delivered: 'zugestellt',
      status_read: 'gelesen',
      status_failed: 'fehlgeschlagen',
      status_received: 'vom Unternehmen empfangen',
      media_image: 'Bild',
      media_video: 'Video',
      media_audio: 'Audio',
      media_document: 'Dokument',
      media_sticker: 'Sticker',
      link: 'Link',
    },
  };
  /** Meta's business-scoped user id: country code, a dot, an optional ENT., letters and digits. */
  const USER_ID_PATTERN = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;
  const TICKS = { accepted: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '⚠', received: '✓' };

  let lang = pickLanguage();
  const state = {
    numbers: [],
    phoneNumberId: '',
    customers: [],
    localCustomers: [],
    waId: '',
    revision: -1,
    messages: [],
    conversation: null,
    poll: null,
  };

  const el = {
    lang: byId('lang'),
    number: byId('number'),
    customer: byId('customer'),
    add: byId('add'),
    addForm: byId('add-form'),
    newWa: byId('new-wa'),
    newName: byId('new-name'),
    newUserId: byId('new-user-id'),
    newHide: byId('new-hide'),
    windowState: byId('window-state'),
    marketing: byId('marketing'),
    move: byId('move'),
    moveForm: byId('move-form'),
    moveWa: byId('move-wa'),
    messages: byId('messages'),
    empty: byId('empty'),
    composer: byId('composer'),
    text: byId('text'),
    status: byId('status'),
  };

  function byId(id) {
    return document.getElementById(id);
  }

  function pickLanguage() {
    let saved = null;
    try {
      saved = localStorage.getItem('wa-sandbox-lang');
    } catch (_e) {
      saved = null;
    }
    if (saved === 'de' || saved === 'en') return saved;
    return (navigator.language || 'en').toLowerCase().indexOf('de') === 0 ? 'de' : 'en';
  }

  function t(key, params) {
    let text = TEXTS[lang]?.[key] || TEXTS.en[key] || key;
    Object.keys(params || {}).forEach((name) => {
      text = text.split('{' + name + '}').join(params[name]);
    });
    return text;
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = t('title');
    Array.prototype.forEach.call(document.querySelectorAll('[data-i18n]'), (node) => {
      node.textContent = t(node.getAttribute('data-i18n'));
    });
    Array.prototype.forEach.call(document.querySelectorAll('[data-i18n-placeholder]'), (node) => {
      node.setAttribute('placeholder', t(node.getAttribute('data-i18n-placeholder')));
    });
    el.lang.textContent = t('otherLanguage');
    el.lang.setAttribute('lang', lang === 'de' ? 'en' : 'de');
    renderCustomers();
    renderConversation();
  }

  /** Node-RED's editor keeps its admin token in localStorage 'auth-tokens'; the JSON endpoints need it there. */
  function authHeaders() {
    const headers = {};
    try {
      const tokens = JSON.parse(localStorage.getItem('auth-tokens') || 'null');
      if (tokens?.access_token) headers.Authorization = 'Bearer ' + tokens.access_token;
    } catch (_e) {
      /* no token: standalone sandbox or Node-RED without adminAuth */
    }
    return headers;
  }

  function request(path, options) {
    options = options || {};
    const headers = authHeaders();
    const init = { method: options.method || 'GET', headers: headers, cache: 'no-store', signal: options.signal };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    return fetch(path, init).then((response) =>
      response.json().then(
        (json) => {
          if (!response.ok) {
            const error = new Error(json?.error?.message || 'HTTP ' + response.status);
            error.code = json?.error?.code;
            throw error;
          }
          return json;
        },
        () => {
          throw new Error('HTTP ' + response.status);
        },
      ),
    );
  }

  function say(text) {
    el.status.textContent = text;
  }

  function query(params) {
    return Object.keys(params)
      .map((key) => encodeURIComponent(key) + '=' + encodeURIComponent(params[key]))
      .join('&');
  }

  function digits(value) {
    return String(value || '').replace(/\D/g, '');
  }

  // ---- Numbers and customers ----

  function loadNumbers() {
    return request('numbers').then((json) => {
      state.numbers = json.numbers || [];
      el.number.textContent = '';
      state.numbers.forEach((n) => {
        const option = document.createElement('option');
        option.value = n.phoneNumberId;
        option.textContent = n.verifiedName + ' (' + n.displayPhoneNumber + ')';
        el.number.appendChild(option);
      });
      if (!state.numbers.length) {
        say(t('noNumbers'));
        return;
      }
      const keep = state.numbers.some((n) => n.phoneNumberId === state.phoneNumberId);
      if (!keep) state.phoneNumberId = state.numbers[0].phoneNumberId;
      el.number.value = state.phoneNumberId;
      return loadCustomers();
    });
  }

  function loadCustomers() {
    if (!state.phoneNumberId) return Promise.resolve();
    return request('conversations?' + query({ phoneNumberId: state.phoneNumberId })).then((json) => {
      state.customers = json.conversations || [];
      renderCustomers();
      if (!state.waId && allCustomers().length) selectCustomer(allCustomers()[0].waId);
    });
  }

  function allCustomers() {
    const list = state.customers.slice();
    state.localCustomers.forEach((local) => {
      if (local.phoneNumberId !== state.phoneNumberId) return;
      const known = list.some((c) => c.waId === local.waId);
      if (!known)
        list.push({ waId: local.waId, name: local.name, userId: local.userId, numberHidden: local.hideNumber });
    });
    return list;
  }

  function customerName(waId) {
    const found = allCustomers().filter((c) => c.waId === waId)[0];
    return found?.name;
  }

  let renderedCustomers = '';

  function renderCustomers() {
    const list = allCustomers();
    // Re-filling the select while someone uses it would close it: only when something changed.
    const signature =
      lang + '|' + state.waId + '|' + JSON.stringify(list.map((c) => [c.waId, c.name, c.userId, c.numberHidden]));
    if (signature === renderedCustomers) return;
    renderedCustomers = signature;
    el.customer.textContent = '';
    if (!list.length) {
      const none = document.createElement('option');
      none.value = '';
      none.textContent = t('noCustomer');
      el.customer.appendChild(none);
      return;
    }
    list.forEach((c) => {
      const option = document.createElement('option');
      option.value = c.waId;
      const identity = c.userId ? ' · ' + c.userId + (c.numberHidden ? ' (' + t('numberHidden') + ')' : '') : '';
      option.textContent = '+' + c.waId + (c.name ? ' – ' + c.name : '') + identity;
      el.customer.appendChild(option);
    });
    el.customer.value = state.waId;
  }

  function selectCustomer(waId) {
    if (state.waId === waId) return;
    state.waId = waId;
    state.revision = -1;
    state.messages = [];
    state.conversation = null;
    el.customer.value = waId;
    renderConversation();
    startPolling();
  }

  // ---- Conversation ----

  /** Long-polls messages?since=revision: the server answers at once when something changed, else after 25 s. */
  function startPolling() {
    if (state.poll) state.poll.abort();
    if (!state.waId || !state.phoneNumberId) return;
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    state.poll = controller || { abort: () => {} };
    const waId = state.waId;
    const phoneNumberId = state.phoneNumberId;
    const current = state.poll;
    function next() {
      if (state.poll !== current) return;
      const params = { phoneNumberId: phoneNumberId, waId: waId };
      if (state.revision >= 0) params.since = state.revision;
      request('messages?' + query(params), { signal: controller ? controller.signal : undefined })
        .then((json) => {
          if (state.poll !== current) return;
          const changed = json.revision !== state.revision;
          state.revision = json.revision;
          state.messages = json.messages || [];
          state.conversation = json.conversation;
          if (changed) renderConversation();
          next();
        })
        .catch((error) => {
          if (state.poll !== current || (error && error.name === 'AbortError')) return;
          setTimeout(next, 3000);
        });
    }
    next();
  }

  function locale() {
    return lang === 'de' ? 'de-DE' : 'en-GB';
  }

  function formatTime(ms) {
    return new Date(ms).toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit' });
  }

  function formatDateTime(ms) {
    return new Date(ms).toLocaleString(locale(), {
      weekday: 'short',
      day: 'numeric',
      month: 'short',
      hour: '2-digit',
      minute: '2-digit',
    });
  }

  function renderConversation() {
    const conversation = state.conversation;
    if (conversation?.windowOpen && conversation.lastInboundAt) {
      el.windowState.textContent = t('windowOpen', { time: formatDateTime(conversation.lastInboundAt + 86400000) });
    } else {
      el.windowState.textContent = state.waId ? t('windowClosed') : '';
    }
    el.marketing.hidden = !state.waId;
    el.move.hidden = !state.waId;
    el.marketing.textContent = conversation?.marketingStopped ? t('resumeMarketing') : t('stopMarketing');
    el.marketing.setAttribute('aria-pressed', conversation?.marketingStopped ? 'true' : 'false');

    const messagesById = {};
    state.messages.forEach((m) => {
      messagesById[m.id] = m;
    });
    const focusedKey = document.activeElement?.getAttribute('data-key');
    el.messages.textContent = '';
    state.messages.forEach((m) => {
      el.messages.appendChild(renderMessage(m, messagesById));
    });
    el.empty.hidden = state.messages.length > 0;
    if (focusedKey) {
      const again = el.messages.querySelector('[data-key="' + focusedKey.replace(/"/g, '') + '"]');
      if (again) again.focus();
    }
    el.messages.scrollTop = el.messages.scrollHeight;
  }

  function node(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = text;
    return element;
  }

  function renderMessage(m, messagesById) {
    const outbound = m.direction === 'outbound';
    const item = node('li', 'message ' + (outbound ? 'from-business' : 'from-customer'));
    item.appendChild(node('span', 'visually-hidden', (outbound ? t('business') : t('you')) + ': '));
    if (m.contextMessageId && messagesById[m.contextMessageId] && m.type !== 'reaction') {
      const quoted = messagesById[m.contextMessageId];
      item.appendChild(node('blockquote', 'quote', t('replyTo') + ': ' + (quoted.text || '').slice(0, 80)));
    }
    if (m.template) {
      const label =
        t('template') + ': ' + m.template.name + (m.template.language ? ' (' + m.template.language + ')' : '');
      item.appendChild(node('p', 'template-name', label));
    }
    if (m.media) {
      const kind = t('media_' + m.media.kind);
      const placeholder = node('p', 'media', '[' + kind + ']' + (m.media.filename ? ' ' + m.media.filename : ''));
      placeholder.setAttribute('role', 'img');
      placeholder.setAttribute('aria-label', kind + (m.media.caption ? ': ' + m.media.caption : ''));
      item.appendChild(placeholder);
    }
    if (m.header) item.appendChild(node('p', 'header', m.header));
    if (m.text && !(m.media && !m.media.caption)) item.appendChild(node('p', 'text', m.text));
    if (m.template?.params?.length) item.appendChild(renderParams(m.template.params));
    if (m.footer) item.appendChild(node('p', 'footer', m.footer));
    if (m.buttons?.length) item.appendChild(renderButtons(m));
    if (m.list) item.appendChild(renderList(m));
    if (m.errors?.length) {
      m.errors.forEach((e) => {
        item.appendChild(node('p', 'error', '⚠ ' + e.code + ': ' + e.title));
      });
    }
    const meta = node('p', 'meta');
    meta.appendChild(node('time', null, formatTime(m.at)));
    const tick = node('span', 'tick tick-' + m.status, TICKS[m.status] || '');
    tick.setAttribute('role', 'img');
    tick.setAttribute('aria-label', t('status_' + m.status));
    tick.title = t('status_' + m.status);
    meta.appendChild(tick);
    item.appendChild(meta);
    return item;
  }

  function renderParams(params) {
    const details = node('details', 'params');
    details.appendChild(node('summary', null, t('params')));
    const list = node('dl');
    params.forEach((p) => {
      list.appendChild(node('dt', null, p.component));
      list.appendChild(node('dd', null, p.values.join(' · ') || '–'));
    });
    details.appendChild(list);
    return details;
  }

  function renderButtons(m) {
    const group = node('div', 'buttons');
    group.setAttribute('role', 'group');
    m.buttons.forEach((b, index) => {
      if (b.kind === 'url') {
        const link = node('a', 'button-like', b.title || t('link'));
        // Only web addresses: a javascript: URL would run on the editor's origin.
        link.href = /^https?:\/\//i.test(String(b.url || '')) ? b.url : '#';
        link.target = '_blank';
        link.rel = 'noopener noreferrer';
        group.appendChild(link);
        return;
      }
      const button = node('button', 'reply-button', b.title);
      button.type = 'button';
      button.setAttribute('data-key', m.id + ':b' + index);
      button.addEventListener('click', () => {
        const reply =
          b.kind === 'quick_reply'
            ? { quickReply: { payload: b.id, text: b.title } }
            : { buttonReply: { id: b.id, title: b.title } };
        sendCustomerMessage(reply, m.id);
      });
      group.appendChild(button);
    });
    return group;
  }

  function renderList(m) {
    const wrapper = node('div', 'list');
    const panelId = 'rows-' + m.id.replace(/[^A-Za-z0-9_-]/g, '');
    const toggle = node('button', 'list-toggle', '☰ ' + (m.list.button || t('openList')));
    toggle.type = 'button';
    toggle.setAttribute('aria-expanded', 'false');
    toggle.setAttribute('aria-controls', panelId);
    toggle.setAttribute('data-key', m.id + ':list');
    const panel = node('div', 'rows');
    panel.id = panelId;
    panel.hidden = true;
    m.list.sections.forEach((section, sectionIndex) => {
      const group = node('fieldset', 'section');
      if (section.title) group.appendChild(node('legend', null, section.title));
      section.rows.forEach((row, rowIndex) => {
        const button = node('button', 'row');
        button.type = 'button';
        button.setAttribute('data-key', m.id + ':r' + sectionIndex + '.' + rowIndex);
        button.appendChild(node('span', 'row-title', row.title));
        if (row.description) button.appendChild(node('span', 'row-description', row.description));
        button.addEventListener('click', () => {
          sendCustomerMessage({ listReply: { id: row.id, title: row.title, description: row.description } }, m.id);
        });
        group.appendChild(button);
      });
      panel.appendChild(group);
    });
    toggle.addEventListener('click', () => {
      panel.hidden = !panel.hidden;
      toggle.setAttribute('aria-expanded', panel.hidden ? 'false' : 'true');
    });
    wrapper.appendChild(toggle);
    wrapper.appendChild(panel);
    return wrapper;
  }

  // ---- Customer actions ----

  function sendCustomerMessage(message, contextMessageId) {
    if (!state.waId) {
      say(t('noCustomer'));
      return Promise.resolve(false);
    }
    const body = { phoneNumberId: state.phoneNumberId, waId: state.waId, name: customerName(state.waId) };
    // Added on this page with a user id: every message carries it, as WhatsApp's would (the server keeps it too).
    const local = state.localCustomers.filter(
      (c) => c.phoneNumberId === state.phoneNumberId && c.waId === state.waId,
    )[0];
    if (local?.userId) body.userId = local.userId;
    if (local?.hideNumber) body.hideNumber = true;
    Object.keys(message).forEach((key) => {
      body[key] = message[key];
    });
    if (contextMessageId) body.contextMessageId = contextMessageId;
    return request('send', { method: 'POST', body: body }).then(
      (json) => {
        const deliveries = json.deliveries || [];
        say(
          deliveries.length
            ? t('sentOk', {
                statuses: deliveries.map((d) => d.status || '–').join(', '),
              })
            : t('noWebhook'),
        );
        loadCustomers();
        return true;
      },
      (error) => {
        say(t('failed', { message: error.message }));
        return false;
      },
    );
  }

  el.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = el.text.value.trim();
    if (!text) return;
    sendCustomerMessage({ text: text }).then((ok) => {
      if (ok) el.text.value = '';
      el.text.focus();
    });
  });

  el.text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      el.composer.requestSubmit ? el.composer.requestSubmit() : el.composer.dispatchEvent(new Event('submit'));
    }
  });

  el.addForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const raw = el.newWa.value.trim();
    const waId = digits(raw.indexOf('00') === 0 ? raw.slice(2) : raw);
    if (waId.length < 8 || waId.length > 15) {
      el.newWa.setAttribute('aria-invalid', 'true');
      say(t('invalidPhone'));
      el.newWa.focus();
      return;
    }
    el.newWa.removeAttribute('aria-invalid');
    const userId = el.newUserId.value.trim();
    const hideNumber = el.newHide.checked;
    const takenBy = allCustomers().filter((c) => c.userId === userId && c.waId !== waId)[0];
    const userIdProblem =
      userId && !USER_ID_PATTERN.test(userId)
        ? 'invalidUserId'
        : userId && takenBy
          ? 'userIdTaken'
          : hideNumber && !userId
            ? 'hideNeedsUserId'
            : '';
    if (userIdProblem) {
      el.newUserId.setAttribute('aria-invalid', 'true');
      say(t(userIdProblem));
      el.newUserId.focus();
      return;
    }
    el.newUserId.removeAttribute('aria-invalid');
    const name = el.newName.value.trim();
    // Added again (to correct it): the new entry replaces the old one.
    state.localCustomers = state.localCustomers.filter(
      (c) => c.phoneNumberId !== state.phoneNumberId || c.waId !== waId,
    );
    state.localCustomers.push({
      phoneNumberId: state.phoneNumberId,
      waId: waId,
      name: name || undefined,
      userId: userId || undefined,
      hideNumber: hideNumber || undefined,
    });
    el.newWa.value = '';
    el.newName.value = '';
    el.newUserId.value = '';
    el.newHide.checked = false;
    el.add.open = false;
    renderCustomers();
    selectCustomer(waId);
    el.text.focus();
  });

  el.customer.addEventListener('change', () => {
    selectCustomer(el.customer.value);
  });

  el.number.addEventListener('change', () => {
    state.phoneNumberId = el.number.value;
    state.waId = '';
    loadCustomers().then(() => {
      if (!state.waId) {
        state.messages = [];
        renderConversation();
      }
    });
  });

  el.marketing.addEventListener('click', () => {
    const stopped = state.conversation?.marketingStopped;
    request('marketing-preference', {
      method: 'POST',
      body: { phoneNumberId: state.phoneNumberId, waId: state.waId, value: stopped ? 'resume' : 'stop' },
    }).then(
      () => {
        say(stopped ? t('resumeMarketing') + ' ✓' : t('marketingStopped'));
      },
      (error) => {
        say(t('failed', { message: error.message }));
      },
    );
  });

  el.moveForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const raw = el.moveWa.value.trim();
    const newWaId = digits(raw.indexOf('00') === 0 ? raw.slice(2) : raw);
    if (newWaId.length < 8 || newWaId.length > 15 || newWaId === state.waId) {
      el.moveWa.setAttribute('aria-invalid', 'true');
      say(t('invalidPhone'));
      el.moveWa.focus();
      return;
    }
    el.moveWa.removeAttribute('aria-invalid');
    const name = customerName(state.waId);
    request('number-change', {
      method: 'POST',
      body: { phoneNumberId: state.phoneNumberId, waId: state.waId, newWaId: newWaId },
    }).then(
      (json) => {
        const statuses = (json.deliveries || []).map((d) => d.status || '–').join(', ');
        say(t('numberChanged', { number: newWaId, statuses: statuses || '–' }));
        // From now on the customer writes from the new number, with the new user id the sandbox gave her there
        // (kept on the server); the old number keeps neither her id nor her hidden number.
        const old = state.localCustomers.filter(
          (c) => c.phoneNumberId === state.phoneNumberId && c.waId === state.waId,
        )[0];
        state.localCustomers.push({
          phoneNumberId: state.phoneNumberId,
          waId: newWaId,
          name: name,
          hideNumber: old?.hideNumber,
        });
        if (old) {
          old.userId = undefined;
          old.hideNumber = undefined;
        }
        el.moveWa.value = '';
        el.move.open = false;
        renderCustomers();
        selectCustomer(newWaId);
      },
      (error) => {
        say(t('failed', { message: error.message }));
      },
    );
  });

  el.lang.addEventListener('click', () => {
    lang = lang === 'de' ? 'en' : 'de';
    try {
      localStorage.setItem('wa-sandbox-lang', lang);
    } catch (_e) {
      /* private mode: the choice lasts for this page only */
    }
    applyLanguage();
  });

  applyLanguage();
  loadNumbers().catch((error) => {
    say(t('failed', { message: error.message }));
  });
  // New customers appear when the business writes to them first.
  setInterval(() => {
    loadCustomers().catch(() => {});
  }, 5000);
})();
