/*
 * OTAS dashboard: a small single-page app over the collector's query API.
 *
 * Design notes
 * - No framework, no build step, no network beyond this collector: the
 *   collector serves this file with CSP default-src 'self', so there is no
 *   inline script or style anywhere; dynamic sizes are set through the DOM.
 * - Every string shown here may come from an untrusted HTTP request that the
 *   SDK captured (paths, headers, bodies, stack traces).  All of it goes into
 *   the page through textContent / createTextNode / setAttribute; this file
 *   never assigns innerHTML, outerHTML or insertAdjacentHTML, and links are
 *   built only as "#/..." fragments with encodeURIComponent'd parts.
 * - The SDK key lives in sessionStorage (gone when the tab closes) and is
 *   sent only in the X-OTAS-SDK-KEY header; it is never put in a URL, shown
 *   on the page or logged.
 * - Views are chosen by the location hash (#/endpoints, #/event/<id>, ...);
 *   each render bumps a sequence number so that an answer arriving after
 *   the user moved on is dropped instead of painting the wrong view.
 */
'use strict';

(function () {
	const KEY_STORE = 'otas.sdkKey';
	const KEY_HEADER = 'X-OTAS-SDK-KEY';
	const LIVE_REFRESH_MS = 3000;
	const LIVE_LIMIT = 50;
	const SESSION_EVENT_CAP = 5000;
	/* What the SDK writes in place of a secret (engine/event/redact_body.h). */
	const REDACTION_RE = /\[UNPARSEABLE BODY REDACTED\]|\[REDACTED\]|%5BREDACTED%5D/g;
	const SVG_NS = 'http://www.w3.org/2000/svg';

	const state = {
		key: null,
		project: null,
		seq: 0,
		timer: null,
		charts: [],
		firstRender: true,
	};

	/* ---- DOM helpers (text only, never HTML) ---------------------------- */

	function $(id) {
		return document.getElementById(id);
	}

	function append(node, kids) {
		for (const k of kids) {
			if (k === null || k === undefined || k === false)
				continue;
			if (Array.isArray(k))
				append(node, k);
			else if (k instanceof Node)
				node.appendChild(k);
			else
				node.appendChild(document.createTextNode(String(k)));
		}
		return node;
	}

	function setAttrs(node, attrs) {
		if (!attrs)
			return node;
		for (const [k, v] of Object.entries(attrs)) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k === 'class')
				node.setAttribute('class', v);
			else if (k === 'text')
				node.textContent = String(v);
			else if (k.startsWith('on') && typeof v === 'function')
				node.addEventListener(k.slice(2), v);
			else
				node.setAttribute(k, v === true ? '' : String(v));
		}
		return node;
	}

	function h(tag, attrs, ...kids) {
		return append(setAttrs(document.createElement(tag), attrs), kids);
	}

	function s(tag, attrs, ...kids) {
		return append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), kids);
	}

	/* Text with redaction markers wrapped in <mark class="redacted">. */
	function redactedText(text) {
		const frag = document.createDocumentFragment();
		const str = String(text);
		let last = 0;
		REDACTION_RE.lastIndex = 0;
		let m;
		while ((m = REDACTION_RE.exec(str)) !== null) {
			if (m.index > last)
				frag.appendChild(document.createTextNode(str.slice(last, m.index)));
			frag.appendChild(h('mark', {class: 'redacted', title: 'Redacted by the SDK before it left the app'}, m[0]));
			last = m.index + m[0].length;
		}
		if (last < str.length)
			frag.appendChild(document.createTextNode(str.slice(last)));
		return frag;
	}

	function announce(msg) {
		const a = $('announce');
		a.textContent = '';
		/* A fresh text node makes screen readers speak a repeated message. */
		window.setTimeout(() => { a.textContent = msg; }, 30);
	}

	/* ---- formatting ---------------------------------------------------- */

	const intFmt = new Intl.NumberFormat('en-US', {maximumFractionDigits: 0});
	const msFmt = new Intl.NumberFormat('en-US', {minimumFractionDigits: 1, maximumFractionDigits: 1});

	function fmtInt(n) {
		return intFmt.format(Number(n) || 0);
	}

	function fmtMs(v) {
		return msFmt.format(Number(v) || 0) + ' ms';
	}

	function fmtPct(r) {
		return ((Number(r) || 0) * 100).toFixed(1) + '%';
	}

	function parseTime(iso) {
		if (typeof iso !== 'string')
			return NaN;
		/* Keep milliseconds: Date.parse wants at most three fraction digits. */
		return Date.parse(iso.replace(/(\.\d{3})\d+/, '$1'));
	}

	function pad(n, w) {
		return String(n).padStart(w || 2, '0');
	}

	function fmtTime(iso, withDate) {
		const t = parseTime(iso);
		if (Number.isNaN(t))
			return iso ? String(iso) : '—';
		const d = new Date(t);
		const hms = pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
		if (withDate === false)
			return hms;
		return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' + hms;
	}

	function timeEl(iso, withDate) {
		return h('time', {datetime: typeof iso === 'string' ? iso : null, title: iso ? String(iso) + ' (UTC)' : null},
			fmtTime(iso, withDate));
	}

	function fmtDuration(ms) {
		if (!(ms >= 0))
			return '—';
		if (ms < 1000)
			return Math.round(ms) + ' ms';
		if (ms < 60000)
			return (ms / 1000).toFixed(1) + ' s';
		const m = Math.floor(ms / 60000);
		return m + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
	}

	function statusClass(code) {
		const c = Number(code);
		if (c >= 500) return 'st-5xx';
		if (c >= 400) return 'st-4xx';
		if (c >= 300) return 'st-3xx';
		if (c >= 200) return 'st-2xx';
		return 'st-other';
	}

	function statusBadge(code) {
		return h('span', {class: 'badge status ' + statusClass(code)}, String(code));
	}

	function methodBadge(m) {
		const method = String(m || '?').toUpperCase();
		const known = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method);
		return h('span', {class: 'badge method m-' + (known ? method.toLowerCase() : 'other')}, method);
	}

	function eventId(ev) {
		if (ev && typeof ev.event_id === 'string' && ev.event_id)
			return ev.event_id;
		return ev && ev.metadata && typeof ev.metadata.event_id === 'string' ? ev.metadata.event_id : null;
	}

	function eventTime(ev) {
		const m = ev && ev.metadata;
		if (m && typeof m.timestamp === 'string' && !Number.isNaN(parseTime(m.timestamp)))
			return m.timestamp;
		return ev.event_time || ev.received_at;
	}

	function eventHref(id) {
		return '#/event/' + encodeURIComponent(id);
	}

	function hashWith(view, params) {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(params || {}))
			if (v !== null && v !== undefined && v !== '')
				q.set(k, v);
		const qs = q.toString();
		return '#/' + view + (qs ? '?' + qs : '');
	}

	function isErrorEvent(ev) {
		return Number(ev.status_code) >= 500 || (typeof ev.error === 'string' && ev.error !== '');
	}

	/* ---- API ----------------------------------------------------------- */

	class ApiError extends Error {
		constructor(status, message) {
			super(message);
			this.status = status;
		}
	}

	async function api(path, params) {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(params || {}))
			if (v !== null && v !== undefined && v !== '')
				q.set(k, String(v));
		const qs = q.toString();
		let r;
		try {
			r = await fetch(path + (qs ? '?' + qs : ''), {
				headers: {[KEY_HEADER]: state.key || '', Accept: 'application/json'},
				cache: 'no-store',
				credentials: 'omit',
				referrerPolicy: 'no-referrer',
			});
		} catch (e) {
			throw new ApiError(0, 'The collector did not answer. Is it still running?');
		}
		let body = null;
		try {
			body = await r.json();
		} catch (e) {
			body = null;
		}
		if (!r.ok) {
			const msg = body && (body.error || body.status_description) || ('HTTP ' + r.status);
			throw new ApiError(r.status, String(msg));
		}
		return body;
	}

	/* All pages of /api/v1/events for a filter, oldest cut at `cap`. */
	async function allEvents(params, cap) {
		const out = [];
		let cursor = null;
		for (;;) {
			const page = await api('/api/v1/events', Object.assign({}, params, {limit: 1000, cursor: cursor}));
			out.push(...(page.events || []));
			cursor = page.next;
			if (!cursor || out.length >= cap)
				return {events: out.slice(0, cap), more: !!cursor || out.length > cap};
		}
	}

	/* ---- sign-in --------------------------------------------------------- */

	function showSignedIn(signedIn) {
		$('signin').hidden = signedIn;
		$('mainnav').hidden = !signedIn;
		$('sign-out').hidden = !signedIn;
		$('project-name').hidden = !signedIn;
		$('view').hidden = !signedIn;
	}

	function signOut(message) {
		stopTimer();
		state.key = null;
		state.project = null;
		try {
			sessionStorage.removeItem(KEY_STORE);
		} catch (e) { /* storage disabled: nothing kept */ }
		$('view').replaceChildren();
		$('project-name').textContent = '';
		$('sdk-key').value = '';
		$('signin-error').textContent = message || '';
		showSignedIn(false);
		$('sdk-key').focus();
	}

	async function trySignIn(key, remember) {
		state.key = key;
		try {
			const p = await api('/api/v1/project');
			if (state.key !== key)
				return false; /* signed out meanwhile */
			state.project = p;
			if (remember) {
				try {
					sessionStorage.setItem(KEY_STORE, key);
				} catch (e) { /* works for this page only */ }
			}
			$('project-name').textContent = p.name || 'Project';
			const k = p.key || {};
			const expires = typeof k.expires_at === 'string' ? k.expires_at.slice(0, 10) : '';
			$('project-name').title = (p.id ? 'Project ' + p.id : '') +
				(expires ? ' \u00b7 key valid until ' + expires : '');
			/* A key that lapses within 14 days is announced where it is seen. */
			if (typeof k.expires_at_unix === 'number' && k.expires_at_unix * 1000 - Date.now() < 14 * 86400000) {
				const days = Math.max(0, Math.ceil((k.expires_at_unix * 1000 - Date.now()) / 86400000));
				$('project-name').append(' ', h('span', {class: 'chip chip-warn', id: 'key-expiry'},
					'key expires in ' + days + (days === 1 ? ' day' : ' days') + ' (' + expires + ')'));
			}
			showSignedIn(true);
			return true;
		} catch (e) {
			state.key = null;
			if (e.status === 401)
				$('signin-error').textContent = 'That key was not accepted. Check that it is an active SDK key of a project on this collector.';
			else if (e.status === 403)
				$('signin-error').textContent = 'That is an ingest key, for app servers. The dashboard takes a read key: otas-collector key create --role read.';
			else
				$('signin-error').textContent = 'Could not sign in: ' + e.message;
			return false;
		}
	}

	async function onSignInSubmit(ev) {
		ev.preventDefault();
		const key = $('sdk-key').value.trim();
		$('signin-error').textContent = '';
		if (!key) {
			$('signin-error').textContent = 'Paste an SDK key first.';
			$('sdk-key').focus();
			return;
		}
		$('signin-submit').disabled = true;
		const ok = await trySignIn(key, true);
		$('signin-submit').disabled = false;
		$('sdk-key').value = '';
		if (ok) {
			if (!location.hash || location.hash === '#' || location.hash === '#main')
				location.hash = '#/endpoints';
			else
				render();
			announce('Signed in to ' + (state.project && state.project.name || 'the project'));
		} else {
			$('sdk-key').focus();
		}
	}

	/* ---- router ---------------------------------------------------------- */

	function parseHash() {
		let raw = location.hash.replace(/^#\/?/, '');
		let query = '';
		const qi = raw.indexOf('?');
		if (qi >= 0) {
			query = raw.slice(qi + 1);
			raw = raw.slice(0, qi);
		}
		const parts = raw.split('/').map((p) => {
			try {
				return decodeURIComponent(p);
			} catch (e) {
				return p;
			}
		});
		return {view: parts[0] || 'endpoints', arg: parts.slice(1).join('/'), params: new URLSearchParams(query)};
	}

	const VIEWS = {
		'endpoints': {nav: 'endpoints', fn: viewEndpoints},
		'latency': {nav: 'latency', fn: viewLatency},
		'over-time': {nav: 'over-time', fn: viewOverTime},
		'live': {nav: 'live', fn: viewLive},
		'event': {nav: 'live', fn: viewEvent},
		'sessions': {nav: 'sessions', fn: viewSessions},
		'overview': {nav: 'overview', fn: viewOverview},
		'errors': {nav: 'errors', fn: viewErrors},
		'search': {nav: 'search', fn: viewSearch},
		'users': {nav: 'users', fn: (c, r) => viewPeople(c, r, 'user')},
		'user': {nav: 'users', fn: (c, r) => viewPerson(c, r, 'user')},
		'companies': {nav: 'companies', fn: (c, r) => viewPeople(c, r, 'company')},
		'company': {nav: 'companies', fn: (c, r) => viewPerson(c, r, 'company')},
		'agents': {nav: 'agents', fn: viewAgents},
		'agent': {nav: 'agents', fn: viewAgents},
	};

	function stopTimer() {
		if (state.timer) {
			window.clearInterval(state.timer);
			state.timer = null;
		}
	}

	function render() {
		if (!state.key)
			return;
		/* The skip link target is not a view. */
		if (location.hash === '#main')
			return;
		stopTimer();
		state.charts = [];
		const seq = ++state.seq;
		const route = parseHash();
		const v = VIEWS[route.view] || VIEWS.endpoints;
		for (const a of document.querySelectorAll('#mainnav a')) {
			if (a.dataset.view === v.nav)
				a.setAttribute('aria-current', 'page');
			else
				a.removeAttribute('aria-current');
		}
		const view = $('view');
		view.replaceChildren(h('p', {class: 'loading', role: 'status'}, 'Loading…'));
		const moveFocus = !state.firstRender;
		state.firstRender = false;
		const ctx = {
			seq: seq,
			alive: () => seq === state.seq && !!state.key,
			mount: (...nodes) => {
				if (seq !== state.seq)
					return false;
				view.replaceChildren(...nodes.filter((n) => n instanceof Node));
				drawCharts();
				if (moveFocus) {
					const h1 = view.querySelector('h1');
					if (h1) {
						h1.setAttribute('tabindex', '-1');
						h1.focus({preventScroll: false});
					}
				}
				return true;
			},
		};
		Promise.resolve(v.fn(ctx, route)).catch((e) => {
			if (!ctx.alive())
				return;
			if (e instanceof ApiError && e.status === 401) {
				signOut('Your SDK key is no longer accepted (revoked or expired). Sign in with an active key.');
				return;
			}
			ctx.mount(pageHeader('Something went wrong', null),
				h('div', {class: 'card notice notice-error', role: 'alert'},
					h('p', null, e && e.message ? e.message : String(e)),
					h('button', {type: 'button', class: 'btn', onclick: () => render()}, 'Try again')));
		});
		document.title = titleFor(route.view) + ' · OTAS';
	}

	function titleFor(view) {
		return {
			'endpoints': 'Endpoints', 'latency': 'Latency', 'over-time': 'Over time',
			'live': 'Live', 'event': 'Event', 'sessions': 'Agent sessions',
			'overview': 'Overview', 'errors': 'Errors', 'search': 'Search', 'users': 'Users',
			'user': 'User', 'companies': 'Companies', 'company': 'Company', 'agents': 'Agents',
			'agent': 'Agent',
		}[view] || 'Endpoints';
	}

	/* ---- shared page parts ------------------------------------------------ */

	function pageHeader(title, sub, ...extra) {
		return h('div', {class: 'page-header'},
			h('div', {class: 'page-title'},
				h('h1', null, title),
				sub ? h('p', {class: 'sub'}, sub) : null),
			extra.length ? h('div', {class: 'page-actions'}, extra) : null);
	}

	function statCard(label, value, opts) {
		return h('div', {class: 'stat' + (opts && opts.tone ? ' tone-' + opts.tone : '')},
			h('div', {class: 'stat-label'}, label),
			h('div', {class: 'stat-value', 'data-stat': opts && opts.key}, value));
	}

	function card(title, ...kids) {
		const id = 'c' + Math.random().toString(36).slice(2, 9);
		return h('section', {class: 'card', 'aria-labelledby': title ? id : null},
			title ? h('h2', {id: id}, title) : null, kids);
	}

	function tableWrap(table, label) {
		return h('div', {class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: '0'}, table);
	}

	function codeLine(text) {
		return h('code', null, text);
	}

	/* What a new user has to do before anything shows up here. */
	function setupSteps() {
		const base = location.origin;
		return h('ol', {class: 'setup'},
			h('li', null, 'Install the SDK in your Django project: ', codeLine('pip install otas')),
			h('li', null, 'Add the middleware in ', codeLine('settings.py'), ':',
				h('pre', {class: 'snippet'}, h('code', null, 'MIDDLEWARE = [..., "otas.OtasMiddleware"]'))),
			h('li', null, 'Point it at this collector with the key you signed in with:',
				h('pre', {class: 'snippet'}, h('code', null,
					'export OTAS_SDK_KEY=otas_...   # your project\'s SDK key\nexport OTAS_BASE_URL=' + base))),
			h('li', null, 'Restart the app and send it a request. Events appear here within a few seconds.'));
	}

	function emptyState(title, text, withSetup) {
		return h('div', {class: 'card empty', 'data-empty': 'true'},
			h('h2', null, title),
			h('p', {class: 'muted'}, text),
			withSetup ? setupSteps() : null);
	}

	function noEventsYet() {
		return emptyState('No events yet',
			'This project has not received any API traffic. A few lines connect a Django app:', true);
	}

	/* ---- charts (SVG, drawn to the container's width) ----------------------- */

	/* A chart slot: drawn when mounted and again when the window resizes. */
	function chartSlot(draw, label) {
		const slot = h('div', {class: 'chart', role: 'img', 'aria-label': label});
		state.charts.push({slot: slot, draw: draw});
		return slot;
	}

	function drawCharts() {
		for (const c of state.charts) {
			if (!c.slot.isConnected)
				continue;
			const w = Math.max(260, Math.floor(c.slot.clientWidth || 600));
			c.slot.replaceChildren(c.draw(w));
		}
	}

	let resizeTimer = null;
	window.addEventListener('resize', () => {
		window.clearTimeout(resizeTimer);
		resizeTimer = window.setTimeout(drawCharts, 120);
	});

	/* The top of an axis with 4 equal steps that read well (integer steps
	 * for counts, so no "0.3 requests" tick). */
	function niceMax(v, integer) {
		const want = Math.max(v, 0) / 4;
		if (!(want > 0))
			return 4;
		const p = Math.pow(10, Math.floor(Math.log10(want)));
		for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
			const step = m * p;
			if (integer && !Number.isInteger(step))
				continue;
			if (step >= want)
				return step * 4;
		}
		return 40 * p;
	}

	function tickFmt(v) {
		return Number.isInteger(v) ? fmtInt(v) : String(Math.round(v * 10) / 10);
	}

	function shorten(text, max) {
		const t = String(text);
		return t.length > max ? t.slice(0, max - 1) + '…' : t;
	}

	/* Horizontal bars: label above, bar below, value at the bar's end. */
	function barChart(items, width) {
		const rowH = 40, top = 4;
		const height = top + items.length * rowH;
		const max = Math.max(1, ...items.map((i) => i.value));
		const valueW = 64;
		const barMax = Math.max(40, width - valueW - 4);
		const chars = Math.max(16, Math.floor(width / 8.2));
		const svg = s('svg', {width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, 'aria-hidden': 'true', focusable: 'false'});
		items.forEach((it, i) => {
			const y = top + i * rowH;
			const w = Math.max(2, Math.round(barMax * it.value / max));
			const g = s('g', {class: 'bar-row'});
			g.appendChild(s('title', null, it.label + ': ' + fmtInt(it.value)));
			g.appendChild(s('text', {x: 0, y: y + 13, class: 'bar-label'}, shorten(it.label, chars)));
			g.appendChild(s('rect', {x: 0, y: y + 19, width: barMax, height: 12, rx: 3, class: 'bar-track'}));
			g.appendChild(s('rect', {x: 0, y: y + 19, width: w, height: 12, rx: 3, class: 'bar' + (it.tone ? ' bar-' + it.tone : '')}));
			g.appendChild(s('text', {x: width - 2, y: y + 30, class: 'bar-value', 'text-anchor': 'end'}, fmtInt(it.value)));
			svg.appendChild(g);
		});
		return svg;
	}

	/* A line chart of points [{x: label, y: number, title}] */
	function lineChart(points, width, opts) {
		const height = 220;
		const m = {l: 52, r: 30, t: 14, b: 30};
		const iw = width - m.l - m.r, ih = height - m.t - m.b;
		const maxY = opts.maxY !== undefined ? opts.maxY : niceMax(Math.max(...points.map((p) => p.y)), true);
		const svg = s('svg', {width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, 'aria-hidden': 'true', focusable: 'false', class: 'line-chart ' + (opts.tone || '')});
		const X = (i) => m.l + (points.length > 1 ? iw * i / (points.length - 1) : iw / 2);
		const Y = (v) => m.t + ih - ih * (v / maxY);
		for (let t = 0; t <= 4; t++) {
			const v = maxY * t / 4;
			svg.appendChild(s('line', {x1: m.l, x2: width - m.r, y1: Y(v), y2: Y(v), class: 'grid'}));
			svg.appendChild(s('text', {x: m.l - 8, y: Y(v) + 4, 'text-anchor': 'end', class: 'axis'}, opts.yFmt(v)));
		}
		const step = width < 420 ? 2 : 1;
		points.forEach((p, i) => {
			if ((points.length - 1 - i) % step === 0)
				svg.appendChild(s('text', {x: X(i), y: height - 8, 'text-anchor': 'middle', class: 'axis'}, p.x));
		});
		if (points.length) {
			let d = '';
			points.forEach((p, i) => { d += (i ? 'L' : 'M') + X(i).toFixed(1) + ' ' + Y(p.y).toFixed(1); });
			const area = d + 'L' + X(points.length - 1).toFixed(1) + ' ' + Y(0) + 'L' + X(0).toFixed(1) + ' ' + Y(0) + 'Z';
			svg.appendChild(s('path', {d: area, class: 'area'}));
			svg.appendChild(s('path', {d: d, class: 'line'}));
			points.forEach((p, i) => {
				const c = s('circle', {cx: X(i), cy: Y(p.y), r: 4, class: 'dot'});
				c.appendChild(s('title', null, p.title));
				svg.appendChild(c);
			});
		}
		return svg;
	}

	const BUCKET_LABELS = {1: '1', 2: '2', 5: '5', 10: '10', 25: '25', 50: '50', 100: '100', 250: '250',
		500: '500', 1000: '1k', 2500: '2.5k', 5000: '5k', 10000: '10k'};

	function bucketLabel(b, prev) {
		if (b.le === null || b.le === undefined)
			return '>' + (BUCKET_LABELS[prev] || prev);
		return '≤' + (BUCKET_LABELS[b.le] || String(b.le));
	}

	function histogram(buckets, width) {
		/* Narrow (a phone): slant the bucket labels so they do not collide. */
		const slant = (width - 52) / Math.max(1, buckets.length) < 36;
		const height = slant ? 260 : 240;
		const m = {l: 44, r: 8, t: 18, b: slant ? 62 : 42};
		const iw = width - m.l - m.r, ih = height - m.t - m.b;
		const maxY = niceMax(Math.max(1, ...buckets.map((b) => b.count)), true);
		const bw = iw / buckets.length;
		const svg = s('svg', {width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, 'aria-hidden': 'true', focusable: 'false', class: 'histogram'});
		const Y = (v) => m.t + ih - ih * (v / maxY);
		for (let t = 0; t <= 4; t++) {
			const v = maxY * t / 4;
			svg.appendChild(s('line', {x1: m.l, x2: width - m.r, y1: Y(v), y2: Y(v), class: 'grid'}));
			svg.appendChild(s('text', {x: m.l - 6, y: Y(v) + 4, 'text-anchor': 'end', class: 'axis'}, tickFmt(v)));
		}
		let prev = null;
		buckets.forEach((b, i) => {
			const x = m.l + i * bw;
			const label = bucketLabel(b, prev);
			prev = b.le;
			const bh = ih * (b.count / maxY);
			const g = s('g', null);
			g.appendChild(s('title', null, label + ' ms: ' + fmtInt(b.count) + ' requests'));
			g.appendChild(s('rect', {x: x + 2, y: m.t + ih - bh, width: Math.max(1, bw - 4), height: Math.max(0, bh), rx: 2, class: 'hbar'}));
			if (b.count > 0)
				g.appendChild(s('text', {x: x + bw / 2, y: m.t + ih - bh - 4, 'text-anchor': 'middle', class: 'hvalue'}, fmtInt(b.count)));
			if (slant) {
				const lx = x + bw / 2 + 3, ly = height - m.b + 12;
				g.appendChild(s('text', {x: lx, y: ly, 'text-anchor': 'end', class: 'axis',
					transform: 'rotate(-50 ' + lx.toFixed(1) + ' ' + ly + ')'}, label));
			} else {
				g.appendChild(s('text', {x: x + bw / 2, y: height - m.b + 16, 'text-anchor': 'middle', class: 'axis'}, label));
			}
			svg.appendChild(g);
		});
		svg.appendChild(s('text', {x: m.l + iw / 2, y: height - 6, 'text-anchor': 'middle', class: 'axis-title'}, 'latency bucket (ms)'));
		return svg;
	}

	/* ---- time range (Endpoints, Latency) ------------------------------------- */

	const RANGES = [
		['all', 'All time', 0],
		['1h', 'Last hour', 3600e3],
		['24h', 'Last 24 hours', 86400e3],
		['7d', 'Last 7 days', 7 * 86400e3],
	];

	function timeRange(route) {
		const r = RANGES.find((x) => x[0] === route.params.get('range')) || RANGES[0];
		return {key: r[0], label: r[1], since: r[2] ? new Date(Date.now() - r[2]).toISOString() : null};
	}

	function rangePicker(view, range, extra) {
		const sel = h('select', {id: 'range', name: 'range'},
			RANGES.map((r) => h('option', {value: r[0], selected: r[0] === range.key}, r[1])));
		sel.addEventListener('change', () => {
			location.hash = hashWith(view, Object.assign({}, extra, {range: sel.value === 'all' ? '' : sel.value}));
		});
		return h('div', {class: 'field range'}, h('label', {for: 'range'}, 'Time range'), sel);
	}

	/* Nothing in the range: say so, unless the project has no events at all. */
	async function emptyForRange(range) {
		if (range.key !== 'all') {
			const any = await api('/api/v1/events', {limit: 1});
			if ((any.events || []).length)
				return emptyState('Nothing in this time range', 'No requests in the ' + range.label.toLowerCase() + '. Pick a longer range.', false);
		}
		return noEventsYet();
	}

	/* ---- view: endpoints ---------------------------------------------------- */

	function endpointLabel(e) {
		return String(e.method) + ' ' + String(e.route);
	}

	async function viewEndpoints(ctx, route) {
		const range = timeRange(route);
		const data = await api('/api/v1/stats/endpoints', {since: range.since});
		const eps = (data.endpoints || []).slice().sort((a, b) => b.count - a.count || endpointLabel(a).localeCompare(endpointLabel(b)));
		const header = pageHeader('Endpoints', 'Requests per endpoint (method and route template), with latency percentiles and errors: answers 5xx or with an exception (Overview and Errors count 4xx too).',
			rangePicker('endpoints', range, {}));
		if (!eps.length)
			return ctx.mount(header, await emptyForRange(range));
		const total = eps.reduce((n, e) => n + e.count, 0);
		const errors = eps.reduce((n, e) => n + e.errors, 0);
		const stats = h('div', {class: 'stats'},
			statCard('Requests', fmtInt(total), {key: 'requests'}),
			statCard('Errors (5xx)', fmtInt(errors), {key: 'errors', tone: errors ? 'bad' : null}),
			statCard('Error rate', fmtPct(total ? errors / total : 0), {key: 'error-rate', tone: errors ? 'bad' : null}),
			statCard('Endpoints', fmtInt(eps.length), {key: 'endpoints'}));

		const rows = eps.map((e) => h('tr', {'data-method': e.method, 'data-route': e.route},
			h('th', {scope: 'row', class: 'ep'}, h('span', {class: 'ep-cell'},
				methodBadge(e.method),
				h('a', {href: hashWith('latency', {method: e.method, route: e.route, range: range.key === 'all' ? '' : range.key}), class: 'route',
					'aria-label': 'Latency of ' + endpointLabel(e)}, String(e.route)))),
			h('td', {class: 'num', 'data-col': 'count', 'data-label': 'Requests'}, fmtInt(e.count)),
			h('td', {class: 'num', 'data-col': 'errors', 'data-label': 'Errors'}, fmtInt(e.errors)),
			h('td', {class: 'num' + (e.errors ? ' bad' : ''), 'data-col': 'error_rate', 'data-label': 'Error rate'}, fmtPct(e.error_rate)),
			h('td', {class: 'num', 'data-col': 'p50', 'data-label': 'p50'}, fmtMs(e.p50_latency_ms)),
			h('td', {class: 'num', 'data-col': 'p95', 'data-label': 'p95'}, fmtMs(e.p95_latency_ms)),
			h('td', {class: 'num', 'data-col': 'p99', 'data-label': 'p99'}, fmtMs(e.p99_latency_ms))));
		const table = h('table', {class: 'data endpoints stack', id: 'endpoints-table'},
			h('caption', {class: 'sr-only'}, 'Endpoints, busiest first'),
			h('thead', null, h('tr', null,
				h('th', {scope: 'col'}, 'Endpoint'),
				h('th', {scope: 'col', class: 'num'}, 'Requests'),
				h('th', {scope: 'col', class: 'num'}, 'Errors'),
				h('th', {scope: 'col', class: 'num'}, 'Error rate'),
				h('th', {scope: 'col', class: 'num'}, 'p50'),
				h('th', {scope: 'col', class: 'num'}, 'p95'),
				h('th', {scope: 'col', class: 'num'}, 'p99'))),
			h('tbody', null, rows));

		const items = eps.map((e) => ({label: endpointLabel(e), value: e.count, tone: e.error_rate >= 0.05 ? 'bad' : null}));
		const chart = chartSlot((w) => barChart(items, w),
			'Bar chart of requests per endpoint: ' + items.map((i) => i.label + ' ' + i.value).join(', '));
		ctx.mount(header, stats,
			card('All endpoints', tableWrap(table, 'Endpoints table')),
			card('Requests per endpoint', chart));
	}

	/* ---- view: latency -------------------------------------------------------- */

	async function viewLatency(ctx, route) {
		const range = timeRange(route);
		const data = await api('/api/v1/stats/endpoints', {since: range.since});
		const eps = (data.endpoints || []).slice().sort((a, b) => b.count - a.count);
		let method = route.params.get('method');
		let rt = route.params.get('route');
		const header = pageHeader('Latency', 'How long each endpoint takes: the distribution of response times.',
			rangePicker('latency', range, {method: method, route: rt}));
		if (!eps.length)
			return ctx.mount(header, await emptyForRange(range));
		let sel = eps.find((e) => e.method === method && e.route === rt) || eps[0];
		method = sel.method;
		rt = sel.route;
		const lat = await api('/api/v1/stats/latency', {method: method, route: rt, since: range.since});
		if (!ctx.alive())
			return;

		const select = h('select', {id: 'latency-endpoint', name: 'endpoint'},
			eps.map((e, i) => h('option', {value: String(i), selected: e === sel}, endpointLabel(e) + '  (' + fmtInt(e.count) + ')')));
		select.addEventListener('change', () => {
			const e = eps[Number(select.value)];
			location.hash = hashWith('latency', {method: e.method, route: e.route, range: range.key === 'all' ? '' : range.key});
		});
		const picker = h('div', {class: 'field inline'},
			h('label', {for: 'latency-endpoint'}, 'Endpoint'), select);

		const buckets = lat.buckets || [];
		const stats = h('div', {class: 'stats'},
			statCard('Requests', fmtInt(lat.count), {key: 'count'}),
			statCard('p50', fmtMs(lat.p50_latency_ms), {key: 'p50'}),
			statCard('p95', fmtMs(lat.p95_latency_ms), {key: 'p95'}),
			statCard('p99', fmtMs(lat.p99_latency_ms), {key: 'p99'}));
		let prev = null;
		const bucketRows = buckets.map((b) => {
			const label = bucketLabel(b, prev) + ' ms';
			prev = b.le;
			return h('tr', null, h('th', {scope: 'row'}, label),
				h('td', {class: 'num'}, fmtInt(b.count)),
				h('td', {class: 'num'}, fmtPct(lat.count ? b.count / lat.count : 0)));
		});
		const chart = chartSlot((w) => histogram(buckets, w),
			'Histogram of latency for ' + endpointLabel(sel) + ': ' +
			buckets.map((b, i) => bucketLabel(b, i ? buckets[i - 1].le : null) + ' ms ' + b.count).join(', '));
		const details = h('details', {class: 'buckets'},
			h('summary', null, 'Bucket counts as a table'),
			tableWrap(h('table', {class: 'data compact', id: 'latency-buckets'},
				h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Latency'),
					h('th', {scope: 'col', class: 'num'}, 'Requests'), h('th', {scope: 'col', class: 'num'}, 'Share'))),
				h('tbody', null, bucketRows)), 'Latency buckets'));
		ctx.mount(header, picker,
			h('p', {class: 'crumb'}, methodBadge(method), ' ', h('span', {class: 'route', id: 'latency-route'}, rt),
				' · ', h('a', {href: hashWith('live', {method: method, route: rt})}, 'recent events')),
			stats, card('Latency distribution', chart, details));
	}

	/* ---- view: over time -------------------------------------------------------- */

	async function viewOverTime(ctx) {
		const data = await api('/api/v1/stats/timeseries', {days: 7});
		const series = data.series || [];
		const header = pageHeader('Over time', 'Events and error rate per day (UTC) for the last 7 days.',
			h('a', {class: 'btn', href: '#/overview?range=7d', id: 'over-time-more'}, 'Any range, by minute or hour'));
		const total = series.reduce((n, d) => n + d.events, 0);
		if (!total)
			return ctx.mount(header, noEventsYet());
		const dayLabel = (d) => {
			const t = Date.parse(d + 'T00:00:00Z');
			if (Number.isNaN(t))
				return d;
			const wd = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][new Date(t).getUTCDay()];
			return wd + ' ' + d.slice(8, 10);
		};
		const ev = series.map((d) => ({x: dayLabel(d.day), y: d.events, title: d.day + ': ' + fmtInt(d.events) + ' events'}));
		const er = series.map((d) => ({x: dayLabel(d.day), y: d.error_rate * 100, title: d.day + ': ' + fmtPct(d.error_rate) + ' errors'}));
		const maxRate = Math.max(...er.map((p) => p.y));
		const errors = series.reduce((n, d) => n + d.errors, 0);
		const stats = h('div', {class: 'stats'},
			statCard('Events, 7 days', fmtInt(total), {key: 'events'}),
			statCard('Errors, 7 days', fmtInt(errors), {key: 'errors', tone: errors ? 'bad' : null}),
			statCard('Error rate, 7 days', fmtPct(total ? errors / total : 0), {key: 'error-rate', tone: errors ? 'bad' : null}),
			statCard('Busiest day', dayLabel(series.reduce((a, b) => (b.events > a.events ? b : a)).day), {key: 'busiest'}));
		const evChart = chartSlot((w) => lineChart(ev, w, {yFmt: tickFmt, tone: 'tone-primary'}),
			'Line chart of events per day: ' + series.map((d) => d.day + ' ' + d.events).join(', '));
		const erChart = chartSlot((w) => lineChart(er, w, {yFmt: (v) => tickFmt(v) + '%',
			maxY: Math.min(100, niceMax(Math.max(maxRate, 4), false)), tone: 'tone-bad'}),
		'Line chart of error rate per day: ' + series.map((d) => d.day + ' ' + fmtPct(d.error_rate)).join(', '));
		const rows = series.slice().reverse().map((d) => h('tr', {'data-day': d.day},
			h('th', {scope: 'row', class: 'nowrap'}, d.day),
			h('td', {class: 'num', 'data-col': 'events'}, fmtInt(d.events)),
			h('td', {class: 'num', 'data-col': 'errors'}, fmtInt(d.errors)),
			h('td', {class: 'num' + (d.errors ? ' bad' : ''), 'data-col': 'error_rate'}, fmtPct(d.error_rate)),
			/* an empty day has no latency, not 0 ms */
			h('td', {class: 'num', 'data-col': 'p50'}, d.events ? fmtMs(d.p50_latency_ms) : '—')));
		const table = h('table', {class: 'data compact', id: 'timeseries-table'},
			h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Day'), h('th', {scope: 'col', class: 'num'}, 'Events'),
				h('th', {scope: 'col', class: 'num'}, 'Errors'), h('th', {scope: 'col', class: 'num'}, 'Error rate'),
				h('th', {scope: 'col', class: 'num'}, 'p50'))),
			h('tbody', null, rows));
		ctx.mount(header, stats,
			h('div', {class: 'grid-2 even'}, card('Events per day', evChart), card('Error rate per day', erChart)),
			card('Per day', tableWrap(table, 'Events per day table')));
	}

	/* ---- view: live ---------------------------------------------------------------- */

	function eventRow(ev, opts) {
		const id = eventId(ev);
		const label = String(ev.method) + ' ' + String(ev.path) + ', status ' + ev.status_code;
		const tr = h('tr', {class: 'ev-row' + (isErrorEvent(ev) ? ' is-error' : ''), 'data-event-id': id,
			tabindex: id ? '0' : null, 'aria-label': id ? 'Open event ' + label : null},
			h('td', {class: 'nowrap t'}, timeEl(eventTime(ev), opts && opts.dates)),
			h('td', null, methodBadge(ev.method)),
			h('td', {class: 'path'}, id ? h('a', {class: 'mono', href: eventHref(id), tabindex: '-1'}, String(ev.path))
				: h('span', {class: 'mono'}, String(ev.path)),
				ev.error ? h('span', {class: 'err-inline'}, shorten(ev.error, 80)) : null),
			h('td', null, statusBadge(ev.status_code)),
			h('td', {class: 'num nowrap'}, fmtMs(ev.latency_ms)),
			h('td', {class: 'agent'}, ev.agent_id
				? h('span', {class: 'mono', title: 'Agent ' + String(ev.agent_id)}, shorten(ev.agent_id, 10))
				: h('span', {class: 'muted'}, '—')));
		if (id) {
			const open = () => { location.hash = eventHref(id); };
			tr.addEventListener('click', (e) => {
				if (!window.getSelection().toString())
					open();
				e.preventDefault();
			});
			tr.addEventListener('keydown', (e) => {
				if (e.key === 'Enter' || e.key === ' ') {
					e.preventDefault();
					open();
				}
			});
		}
		return tr;
	}

	function eventsTable(id, events, opts) {
		return h('table', {class: 'data events', id: id},
			h('thead', null, h('tr', null,
				h('th', {scope: 'col'}, 'Time (UTC)'), h('th', {scope: 'col'}, 'Method'),
				h('th', {scope: 'col'}, 'Path'), h('th', {scope: 'col'}, 'Status'),
				h('th', {scope: 'col', class: 'num'}, 'Latency'), h('th', {scope: 'col'}, 'Agent'))),
			h('tbody', null, events.map((e) => eventRow(e, opts))));
	}

	async function viewLive(ctx, route) {
		const f = {
			path: route.params.get('path') || '',
			method: route.params.get('method') || '',
			status: route.params.get('status') || '',
			route: route.params.get('route') || '',
		};
		const filtered = !!(f.path || f.method || f.status || f.route);
		const header = pageHeader('Live', 'The newest requests, refreshed every few seconds. Press Enter on a row to open it.');

		const pathIn = h('input', {id: 'f-path', name: 'path', type: 'search', value: f.path, placeholder: '/api/items/1', spellcheck: 'false', autocomplete: 'off'});
		const methodIn = h('select', {id: 'f-method', name: 'method'},
			['', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'].map((m) =>
				h('option', {value: m, selected: m === f.method.toUpperCase()}, m || 'Any')));
		const statusIn = h('input', {id: 'f-status', name: 'status', type: 'text', inputmode: 'numeric', pattern: '[0-9]*', value: f.status, placeholder: 'e.g. 500', autocomplete: 'off'});
		const form = h('form', {class: 'filters', id: 'live-filters', role: 'search', 'aria-label': 'Filter events'},
			h('div', {class: 'field'}, h('label', {for: 'f-path'}, 'Path (exact)'), pathIn),
			h('div', {class: 'field'}, h('label', {for: 'f-method'}, 'Method'), methodIn),
			h('div', {class: 'field narrow'}, h('label', {for: 'f-status'}, 'Status'), statusIn),
			h('div', {class: 'field buttons'},
				h('button', {type: 'submit', class: 'btn btn-primary'}, 'Apply'),
				filtered ? h('a', {class: 'btn', href: '#/live'}, 'Clear') : null));
		form.addEventListener('submit', (e) => {
			e.preventDefault();
			const st = statusIn.value.trim();
			if (st && !/^\d{3}$/.test(st)) {
				statusIn.setCustomValidity('A three-digit status code, e.g. 404');
				statusIn.reportValidity();
				return;
			}
			statusIn.setCustomValidity('');
			location.hash = hashWith('live', {path: pathIn.value.trim(), method: methodIn.value, status: st, route: f.route});
		});

		const pause = h('button', {type: 'button', class: 'btn btn-quiet', 'aria-pressed': 'false', id: 'live-pause'}, 'Pause');
		const updated = h('span', {class: 'muted small', id: 'live-updated'});
		const body = h('div', {id: 'live-body'});

		let paused = false;
		const params = {path: f.path, method: f.method.toUpperCase(), status: f.status, route: f.route, limit: LIVE_LIMIT};
		const routeChip = f.route
			? h('p', {class: 'crumb'}, 'Endpoint ', h('span', {class: 'route', id: 'live-route'}, f.route), ' ',
				h('a', {href: hashWith('live', {path: f.path, method: f.method, status: f.status}), 'aria-label': 'Show all routes'}, 'show all routes'))
			: null;

		/* Older pages the user asked for stay below the refreshed newest page. */
		let older = [];
		let nextCursor = null;
		const more = h('button', {type: 'button', class: 'btn', id: 'live-more', hidden: true}, 'Load older events');

		async function refresh(first) {
			const data = await api('/api/v1/events', params);
			if (!ctx.alive())
				return;
			const newest = data.events || [];
			if (!older.length)
				nextCursor = data.next || null;
			const seen = new Set(newest.map(eventId));
			const events = newest.concat(older.filter((e) => !seen.has(eventId(e))));
			more.hidden = !nextCursor || !events.length;
			const focusedId = document.activeElement && document.activeElement.dataset
				? document.activeElement.dataset.eventId : null;
			const table = body.querySelector('#live-table');
			if (!events.length) {
				body.replaceChildren(filtered
					? emptyState('No events match', 'Nothing matches these filters yet. Filters are exact: the path without its query string, the status as a number.', false)
					: noEventsYet());
			} else if (table) {
				/* Swap the rows only: the table, its scroll position and a
				 * focus on the table region survive the refresh. */
				table.tBodies[0].replaceWith(h('tbody', null, events.map((e) => eventRow(e, {dates: true}))));
			} else {
				body.replaceChildren(h('div', {class: 'card flush'}, tableWrap(eventsTable('live-table', events, {dates: true}), 'Newest events')));
			}
			if (focusedId) {
				const again = body.querySelector('tr[data-event-id="' + CSS.escape(focusedId) + '"]');
				if (again)
					again.focus({preventScroll: true});
			}
			updated.textContent = 'Updated ' + fmtTime(new Date().toISOString(), false) + ' UTC · ' + events.length + ' shown';
			if (first)
				announce(events.length + ' events shown');
		}

		more.addEventListener('click', async () => {
			more.disabled = true;
			try {
				const page = await api('/api/v1/events', Object.assign({}, params, {cursor: nextCursor}));
				older = older.concat(page.events || []);
				nextCursor = page.next || null;
				await refresh(false);
				announce((page.events || []).length + ' older events added');
			} catch (e) {
				updated.textContent = 'Could not load older events: ' + e.message;
			} finally {
				more.disabled = false;
			}
		});

		pause.addEventListener('click', () => {
			paused = !paused;
			pause.setAttribute('aria-pressed', paused ? 'true' : 'false');
			pause.textContent = paused ? 'Resume' : 'Pause';
			announce(paused ? 'Auto-refresh paused' : 'Auto-refresh resumed');
		});

		await refresh(true);
		if (!ctx.mount(header, routeChip, card(null, form), h('div', {class: 'live-bar'}, h('span', {class: 'pulse', 'aria-hidden': 'true'}), updated, pause), body, h('div', {class: 'more-bar'}, more)))
			return;
		state.timer = window.setInterval(() => {
			if (paused || document.hidden || !ctx.alive())
				return;
			refresh(false).catch((e) => {
				if (e instanceof ApiError && e.status === 401 && ctx.alive())
					signOut('Your SDK key is no longer accepted. Sign in again.');
				else
					updated.textContent = 'Refresh failed: ' + e.message;
			});
		}, LIVE_REFRESH_MS);
	}

	/* ---- view: one event ------------------------------------------------------------- */

	function parseJsonString(v) {
		if (v && typeof v === 'object')
			return v;
		if (typeof v !== 'string' || v === '')
			return null;
		try {
			const o = JSON.parse(v);
			return o && typeof o === 'object' ? o : null;
		} catch (e) {
			return null;
		}
	}

	function kvTable(obj, label, id) {
		const entries = Object.entries(obj || {});
		if (!entries.length)
			return h('p', {class: 'muted small'}, 'None.');
		entries.sort((a, b) => a[0].localeCompare(b[0]));
		return tableWrap(h('table', {class: 'data kv', id: id},
			h('caption', {class: 'sr-only'}, label),
			h('thead', {class: 'sr-only'}, h('tr', null, h('th', {scope: 'col'}, 'Name'), h('th', {scope: 'col'}, 'Value'))),
			h('tbody', null, entries.map(([k, v]) => h('tr', null,
				h('th', {scope: 'row', class: 'mono'}, k),
				h('td', {class: 'mono wrap'}, redactedText(Array.isArray(v) ? v.join(', ') : (typeof v === 'string' ? v : JSON.stringify(v)))))))), label);
	}

	function bodyBlock(text, contentType, encoding, truncated, id) {
		if (typeof text !== 'string' || text === '')
			return h('p', {class: 'muted small'}, 'No body captured.');
		let shown = text;
		let note = null;
		if (encoding === 'base64') {
			note = 'Binary body, shown base64-encoded.';
		} else {
			try {
				shown = JSON.stringify(JSON.parse(text), null, 2);
			} catch (e) {
				shown = text;
			}
		}
		return h('div', {class: 'body-block'},
			h('div', {class: 'body-meta'},
				contentType ? h('span', {class: 'chip'}, String(contentType)) : null,
				truncated ? h('span', {class: 'chip chip-warn'}, 'cut at the capture limit') : null,
				note ? h('span', {class: 'chip'}, note) : null),
			h('pre', {class: 'code', id: id, tabindex: '0', 'aria-label': id === 'req-body' ? 'Request body' : 'Response body'},
				h('code', null, redactedText(shown))));
	}

	function dl(pairs) {
		return h('dl', {class: 'props'}, pairs.filter((p) => p && p[1] !== null && p[1] !== undefined && p[1] !== '').map(([k, v]) =>
			h('div', {class: 'prop'}, h('dt', null, k), h('dd', null, v instanceof Node ? v : String(v)))));
	}

	async function findOutgoing(ev, id) {
		/* No parent_event_id filter in the query API yet: outgoing calls
		 * happen while their request runs, so look in a window around it. */
		const t = parseTime(eventTime(ev));
		if (Number.isNaN(t))
			return [];
		const since = new Date(t - 5 * 60000).toISOString();
		const until = new Date(t + (Number(ev.latency_ms) || 0) + 5 * 60000).toISOString();
		const got = await allEvents({since: since, until: until}, 5000);
		return got.events.filter((e) => e.metadata && e.metadata.parent_event_id === id)
			.sort((a, b) => parseTime(eventTime(a)) - parseTime(eventTime(b)));
	}

	async function viewEvent(ctx, route) {
		const id = route.arg;
		let ev;
		try {
			ev = await api('/api/v1/events/' + encodeURIComponent(id));
		} catch (e) {
			if (e.status === 404)
				return ctx.mount(pageHeader('Event not found', null),
					emptyState('No such event', 'This project has no event with that id. It may belong to another project.', false),
					h('p', null, h('a', {href: '#/live'}, '← Back to live events')));
			throw e;
		}
		const md = ev.metadata && typeof ev.metadata === 'object' ? ev.metadata : {};
		const outgoing = await findOutgoing(ev, id).catch(() => null);
		if (!ctx.alive())
			return;
		const truncated = Array.isArray(md.truncated) ? md.truncated : [];
		const enc = md.body_encoding && typeof md.body_encoding === 'object' ? md.body_encoding : {};

		const title = h('h1', {class: 'event-title'}, methodBadge(ev.method), ' ', h('span', {class: 'mono'}, String(ev.path)));
		const head = h('div', {class: 'page-header'},
			h('div', {class: 'page-title'},
				h('p', {class: 'back'}, h('a', {href: '#/live'}, '← Live events')),
				title,
				h('p', {class: 'sub event-sub'}, statusBadge(ev.status_code), ' ', fmtMs(ev.latency_ms), ' · ',
					timeEl(eventTime(ev)), ' UTC',
					md.direction === 'outgoing' ? h('span', {class: 'chip'}, 'outgoing call') : null)));

		const agent = ev.agent_session_id
			? h('span', null, String(ev.agent_id || 'unknown agent'), ' · ',
				h('a', {href: hashWith('sessions/' + encodeURIComponent(ev.agent_session_id), {agent: ev.agent_id || '', verified: ev.agent_verified ? '1' : '0'})},
					'session ' + shorten(ev.agent_session_id, 24)), ' ',
				h('span', {class: 'chip ' + (ev.agent_verified ? 'chip-ok' : 'chip-warn')}, ev.agent_verified ? 'verified' : 'unverified'))
			: null;
		const props = dl([
			['Event ID', h('span', {class: 'mono', id: 'event-id'}, id)],
			['Route', md.route ? h('span', {class: 'mono'}, String(md.route)) : null],
			['Status', String(ev.status_code)],
			['Latency', fmtMs(ev.latency_ms)],
			['Captured at', md.timestamp ? String(md.timestamp) : null],
			['Received at', ev.received_at],
			['Agent', agent],
			['Parent request', md.parent_event_id ? h('a', {href: eventHref(String(md.parent_event_id))}, String(md.parent_event_id)) : null],
			['Request size', ev.request_size_bytes !== undefined ? fmtInt(ev.request_size_bytes) + ' bytes' : null],
			['Response size', ev.response_size_bytes !== undefined ? fmtInt(ev.response_size_bytes) + ' bytes' : null],
			['Client IP', md.client_ip ? redactedText(String(md.client_ip)) : null],
			['User', md.user_id ? String(md.user_id) : null],
			['Host', md.host ? String(md.host) : null],
			['SDK', md.sdk ? String(md.sdk) : null],
			['Trace', md.traceparent ? h('span', {class: 'mono'}, String(md.traceparent)) : null],
		]);

		const errs = Array.isArray(md.errors) ? md.errors : [];
		let errorCard = null;
		if ((typeof ev.error === 'string' && ev.error) || errs.length) {
			errorCard = h('section', {class: 'card card-error', 'aria-labelledby': 'err-title', id: 'event-errors'},
				h('h2', {id: 'err-title'}, 'Error'),
				ev.error ? h('p', {class: 'error-text mono'}, redactedText(String(ev.error))) : null,
				errs.map((e) => h('div', {class: 'error-item'},
					h('p', {class: 'error-head'}, h('strong', null, String(e && e.type || 'Error')), ': ', redactedText(String(e && e.message || ''))),
					e && e.stack ? h('pre', {class: 'code stack', tabindex: '0', 'aria-label': 'Stack trace'}, h('code', null, redactedText(String(e.stack)))) : null)));
		}

		const reqH = parseJsonString(ev.request_headers);
		const resH = parseJsonString(ev.response_headers);
		const query = parseJsonString(ev.query_params);
		const post = parseJsonString(ev.post_data);
		const request = card('Request',
			h('h3', null, 'Headers'), reqH ? kvTable(reqH, 'Request headers', 'req-headers') : rawOrNone(ev.request_headers),
			query && Object.keys(query).length ? [h('h3', null, 'Query parameters'), kvTable(query, 'Query parameters', 'req-query')] : null,
			post && Object.keys(post).length ? [h('h3', null, 'Form fields'), kvTable(post, 'Form fields', 'req-form')] : null,
			h('h3', null, 'Body'), bodyBlock(ev.request_body, ev.request_content_type, enc.request, truncated.includes('request'), 'req-body'));
		const response = card('Response',
			h('h3', null, 'Headers'), resH ? kvTable(resH, 'Response headers', 'res-headers') : rawOrNone(ev.response_headers),
			h('h3', null, 'Body'), bodyBlock(ev.response_body, ev.response_content_type, enc.response, truncated.includes('response'), 'res-body'));

		let outCard;
		if (outgoing === null)
			outCard = card('Outgoing calls', h('p', {class: 'muted small'}, 'Could not look up outgoing calls.'));
		else if (!outgoing.length)
			outCard = card('Outgoing calls', h('p', {class: 'muted small', id: 'outgoing-none'}, 'This request made no recorded outgoing HTTP calls.'));
		else
			outCard = card('Outgoing calls (' + outgoing.length + ')', tableWrap(eventsTable('outgoing-table', outgoing, {dates: false}), 'Outgoing calls'));

		const custom = md && ev.custom_properties && typeof ev.custom_properties === 'object' && Object.keys(ev.custom_properties).length
			? card('Custom properties', kvTable(ev.custom_properties, 'Custom properties', 'custom-props')) : null;

		ctx.mount(head, errorCard, card('Details', props), h('div', {class: 'grid-2 even'}, request, response), outCard, custom);
	}

	function rawOrNone(v) {
		if (typeof v === 'string' && v !== '' && v !== '{}')
			return h('pre', {class: 'code'}, h('code', null, redactedText(v)));
		return h('p', {class: 'muted small'}, 'None.');
	}

	/* ---- view: agent sessions ---------------------------------------------------------- */

	async function viewSessions(ctx, route) {
		if (route.arg)
			return viewSession(ctx, route);
		const data = await api('/api/v1/agent-sessions');
		const sessions = data.sessions || [];
		const header = pageHeader('Agent sessions', 'What each AI agent did to your API, one session at a time.');
		if (!sessions.length) {
			return ctx.mount(header, h('div', {class: 'card empty', 'data-empty': 'true'},
				h('h2', null, 'No agent sessions yet'),
				h('p', {class: 'muted'}, 'Requests that carry an agent session token are grouped here, step by step. Give an agent a token and have it send it with every request:'),
				h('pre', {class: 'snippet'}, h('code', null,
					'otas-collector agent-session create --db otas.db --project <project-id> --agent my-agent\n' +
					'# the agent then sends, on each request to your API:\nX-OTAS-Agent-Session-Token: <token>')),
				h('p', {class: 'muted small'}, 'The SDK forwards the token to the collector and never stores it with the event.')));
		}
		const rows = sessions.map((se) => {
			const href = hashWith('sessions/' + encodeURIComponent(se.agent_session_id), {agent: se.agent_id || '', verified: se.verified ? '1' : '0'});
			return h('tr', {'data-session-id': se.agent_session_id},
				h('th', {scope: 'row'}, h('a', {href: href, class: 'mono', 'aria-label': 'Session ' + String(se.agent_session_id)}, shorten(se.agent_session_id, 40))),
				h('td', {class: 'wide mono small', 'data-label': 'Agent'}, se.agent_id ? String(se.agent_id) : h('span', {class: 'muted'}, '—')),
				h('td', {'data-label': 'Token'}, h('span', {class: 'chip ' + (se.verified ? 'chip-ok' : 'chip-warn')}, se.verified ? 'verified' : 'unverified')),
				h('td', {class: 'num', 'data-col': 'events', 'data-label': 'Events'}, fmtInt(se.events)),
				h('td', {class: 'num' + (se.errors ? ' bad' : ''), 'data-col': 'errors', 'data-label': 'Errors'}, fmtInt(se.errors)),
				h('td', {class: 'nowrap span2', 'data-label': 'Started (UTC)'}, timeEl(se.first_seen)),
				h('td', {class: 'nowrap', 'data-label': 'Duration'}, fmtDuration(parseTime(se.last_seen) - parseTime(se.first_seen))));
		});
		ctx.mount(header, card(null, tableWrap(h('table', {class: 'data stack', id: 'sessions-table'},
			h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Session'), h('th', {scope: 'col'}, 'Agent'),
				h('th', {scope: 'col'}, 'Token'), h('th', {scope: 'col', class: 'num'}, 'Events'),
				h('th', {scope: 'col', class: 'num'}, 'Errors'), h('th', {scope: 'col'}, 'Started (UTC)'),
				h('th', {scope: 'col'}, 'Duration'))),
			h('tbody', null, rows)), 'Agent sessions table')));
	}

	async function viewSession(ctx, route) {
		const sid = route.arg;
		const agent = route.params.get('agent');
		const verified = route.params.get('verified');
		const got = await allEvents({agent_session_id: sid}, SESSION_EVENT_CAP);
		if (!ctx.alive())
			return;
		/* Verified and unverified traffic are separate sessions (an
		 * unverified token can claim any id), and so are two agents. */
		const events = got.events.filter((e) =>
			(verified === null || String(!!e.agent_verified) === String(verified === '1')) &&
			(!agent || e.agent_id === agent))
			.sort((a, b) => parseTime(eventTime(a)) - parseTime(eventTime(b)));
		const head = pageHeader('Agent session', null);
		head.querySelector('.page-title').prepend(h('p', {class: 'back'}, h('a', {href: '#/sessions'}, '← All sessions')));
		if (!events.length)
			return ctx.mount(head, emptyState('No events in this session', 'The session has no stored events in this project.', false));
		const t0 = parseTime(eventTime(events[0]));
		const tn = parseTime(eventTime(events[events.length - 1]));
		const errors = events.filter(isErrorEvent).length;
		const first = events[0];
		const stats = h('div', {class: 'stats'},
			statCard('Started (UTC)', fmtTime(eventTime(first), false), {key: 'started'}),
			statCard('Steps', fmtInt(events.length), {key: 'steps'}),
			statCard('Errors', fmtInt(errors), {key: 'errors', tone: errors ? 'bad' : null}),
			statCard('Duration', fmtDuration(tn - t0), {key: 'duration'}));
		const steps = events.map((e, i) => {
			const id = eventId(e);
			const t = parseTime(eventTime(e));
			const inner = [
				h('span', {class: 'step-n', 'aria-hidden': 'true'}, String(i + 1)),
				h('span', {class: 'step-main'},
					h('span', {class: 'step-line'}, methodBadge(e.method), ' ', h('span', {class: 'mono path'}, String(e.path)), ' ', statusBadge(e.status_code)),
					h('span', {class: 'step-meta'}, fmtTime(eventTime(e), false) + ' UTC · +' + fmtDuration(t - t0) + ' · ' + fmtMs(e.latency_ms)),
					e.error ? h('span', {class: 'err-inline'}, shorten(String(e.error), 120)) : null),
			];
			return h('li', {class: 'step' + (isErrorEvent(e) ? ' is-error' : ''), 'data-event-id': id},
				id ? h('a', {href: eventHref(id), class: 'step-link', 'aria-label': 'Step ' + (i + 1) + ': ' + e.method + ' ' + e.path + ', status ' + e.status_code}, inner) : h('div', {class: 'step-link'}, inner));
		});
		ctx.mount(head,
			h('dl', {class: 'props ids'},
				h('div', {class: 'prop'}, h('dt', null, 'Agent'), h('dd', {class: 'mono', id: 'session-agent'}, first.agent_id ? String(first.agent_id) : 'unknown')),
				h('div', {class: 'prop'}, h('dt', null, 'Session'), h('dd', {class: 'mono', id: 'session-id'}, sid)),
				h('div', {class: 'prop'}, h('dt', null, 'Token'), h('dd', null,
					h('span', {class: 'chip ' + (first.agent_verified ? 'chip-ok' : 'chip-warn')}, first.agent_verified ? 'verified by the collector' : 'unverified claim')))),
			stats,
			card('Step by step', got.more ? h('p', {class: 'muted small'}, 'Showing the newest ' + fmtInt(SESSION_EVENT_CAP) + ' events of a longer session.') : null,
				h('ol', {class: 'timeline', id: 'session-steps'}, steps)));
	}

	/* ---- shared time range and filters (Overview, Errors, Search, Users,
	 * Companies, Agents) ------------------------------------------------------
	 *
	 * Every one of these views reads the same arguments from the hash and
	 * hands them to the API unchanged, so a copied URL shows the same view:
	 * range=15m|1h|6h|24h|7d|30d or from=&to= (RFC 3339), bucket, and the
	 * filters below. */

	const DASH_RANGES = [['15m', 'Last 15 minutes'], ['1h', 'Last hour'], ['6h', 'Last 6 hours'],
		['24h', 'Last 24 hours'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days']];
	const FILTERS = [
		['method', 'Method', 'GET'], ['route', 'Route', 'api/items/<int:pk>'],
		['path', 'Path or glob', '/api/items/*'], ['status', 'Status', '4xx,500'],
		['user', 'User', 'user id'], ['company', 'Company', 'company id'],
		['tag', 'Tag', 'blue'], ['version', 'Version', '1.4.2'],
		['agent', 'Agent', 'agent id'], ['session', 'Session', 'session id'],
		['trace', 'Trace id', 'trace id'], ['q', 'Text in path, query, bodies, error', 'any text, 3+ characters'],
		['unmatched', 'Unmatched only (1)', '1'],
	];
	const PASS = ['range', 'from', 'to', 'bucket'].concat(FILTERS.map((f) => f[0]));

	/* The API arguments of the current hash (the range defaults to 24h). */
	function dashParams(route, extra) {
		const p = {};
		for (const k of PASS) {
			const v = route.params.get(k);
			if (v)
				p[k] = v;
		}
		if (!p.from && !p.to && !p.range)
			p.range = '24h';
		return Object.assign(p, extra || {});
	}

	/* The hash of `view` with the current range and filters (changes merged;
	 * a null value drops an argument). */
	function dashHash(view, route, changes) {
		const p = dashParams(route);
		for (const [k, v] of Object.entries(changes || {})) {
			if (v === null || v === '')
				delete p[k];
			else
				p[k] = v;
		}
		if (p.range === '24h' && !p.from)
			delete p.range;
		return hashWith(view, p);
	}

	function isoLocalInput(iso) {
		const t = parseTime(iso);
		if (Number.isNaN(t))
			return '';
		return new Date(t).toISOString().slice(0, 16);
	}

	/* Range select, absolute from/to and a filter form, all in the URL. */
	function filterBar(view, route, opts) {
		const cur = dashParams(route);
		const absolute = !!(cur.from || cur.to);
		const sel = h('select', {id: 'd-range', name: 'range', 'aria-label': 'Time range'},
			DASH_RANGES.map((r) => h('option', {value: r[0], selected: !absolute && r[0] === cur.range}, r[1])),
			h('option', {value: 'abs', selected: absolute}, 'Custom from–to'));
		const from = h('input', {id: 'd-from', name: 'from', type: 'datetime-local', value: cur.from ? isoLocalInput(cur.from) : '', 'aria-label': 'From (UTC)'});
		const to = h('input', {id: 'd-to', name: 'to', type: 'datetime-local', value: cur.to ? isoLocalInput(cur.to) : '', 'aria-label': 'To (UTC)'});
		const absBox = h('div', {class: 'abs-range', hidden: !absolute}, from, h('span', {class: 'muted'}, '–'), to,
			h('button', {type: 'button', class: 'btn', id: 'd-abs-apply'}, 'Apply'));
		sel.addEventListener('change', () => {
			if (sel.value === 'abs') {
				absBox.hidden = false;
				from.focus();
				return;
			}
			location.hash = dashHash(view, route, {range: sel.value, from: null, to: null});
		});
		absBox.querySelector('button').addEventListener('click', () => {
			if (!from.value)
				return;
			const f = new Date(from.value + ':00Z').toISOString();
			const t = to.value ? new Date(to.value + ':00Z').toISOString() : null;
			location.hash = dashHash(view, route, {range: null, from: f, to: t});
		});
		const active = FILTERS.filter((f) => cur[f[0]]);
		const chips = h('ul', {class: 'chips', 'aria-label': 'Active filters'},
			active.map((f) => h('li', null, h('a', {class: 'chip chip-filter', href: dashHash(view, route, {[f[0]]: null}),
				'aria-label': 'Remove filter ' + f[1] + ' ' + cur[f[0]], 'data-filter': f[0]},
				f[1] + ': ' + cur[f[0]], h('span', {'aria-hidden': 'true'}, ' ×')))));
		const inputs = FILTERS.filter((f) => !opts || !opts.only || opts.only.includes(f[0])).map((f) =>
			h('div', {class: 'field'}, h('label', {for: 'df-' + f[0]}, f[1]),
				h('input', {id: 'df-' + f[0], name: f[0], type: 'search', value: cur[f[0]] || '', placeholder: f[2],
					spellcheck: 'false', autocomplete: 'off'})));
		const form = h('form', {class: 'dfilters', id: 'dash-filters', role: 'search', 'aria-label': 'Filters'},
			inputs, h('div', {class: 'field buttons'},
				h('button', {type: 'submit', class: 'btn btn-primary', id: 'df-apply'}, 'Apply'),
				active.length ? h('a', {class: 'btn', href: dashHash(view, route, Object.fromEntries(FILTERS.map((f) => [f[0], null])))}, 'Clear') : null));
		form.addEventListener('submit', (e) => {
			e.preventDefault();
			const ch = {};
			for (const f of FILTERS) {
				const inp = form.querySelector('#df-' + f[0]);
				if (inp)
					ch[f[0]] = inp.value.trim() || null;
			}
			location.hash = dashHash(view, route, ch);
		});
		const details = h('details', {class: 'filter-box', open: active.length ? true : null},
			h('summary', null, 'Filters' + (active.length ? ' (' + active.length + ')' : '')), form);
		return h('div', {class: 'card filterbar'},
			h('div', {class: 'range-row'}, h('label', {for: 'd-range'}, 'Time range'), sel, absBox, chips),
			opts && opts.noFilters ? null : details);
	}

	function nullMs(v) {
		return v === null || v === undefined ? '—' : fmtMs(v);
	}

	function nullPct(v) {
		return v === null || v === undefined ? '—' : fmtPct(v);
	}

	function bucketLabelT(iso, bucket) {
		const t = parseTime(iso);
		const d = new Date(t);
		if (bucket === 'day')
			return pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate());
		return pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
	}

	/* Stacked bars of requests by status class per bucket. */
	function stackedChart(series, bucket, width) {
		const height = 220, m = {l: 48, r: 10, t: 12, b: 28};
		const iw = width - m.l - m.r, ih = height - m.t - m.b;
		const maxY = niceMax(Math.max(1, ...series.map((b) => b.requests)), true);
		const bw = iw / Math.max(1, series.length);
		const svg = s('svg', {width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, 'aria-hidden': 'true', focusable: 'false', class: 'stacked'});
		const Y = (v) => m.t + ih - ih * (v / maxY);
		for (let t = 0; t <= 4; t++) {
			const v = maxY * t / 4;
			svg.appendChild(s('line', {x1: m.l, x2: width - m.r, y1: Y(v), y2: Y(v), class: 'grid'}));
			svg.appendChild(s('text', {x: m.l - 6, y: Y(v) + 4, 'text-anchor': 'end', class: 'axis'}, tickFmt(v)));
		}
		const every = Math.max(1, Math.ceil(series.length / Math.max(2, Math.floor(iw / 70))));
		series.forEach((b, i) => {
			const x = m.l + i * bw;
			let y0 = 0;
			const g = s('g', null);
			g.appendChild(s('title', null, fmtTime(b.t) + ': ' + b.requests + ' requests (2xx ' + b.status['2xx'] + ', 3xx ' + b.status['3xx'] +
				', 4xx ' + b.status['4xx'] + ', 5xx ' + b.status['5xx'] + ')'));
			for (const k of ['2xx', '3xx', '4xx', '5xx']) {
				const v = b.status[k] || 0;
				if (!v)
					continue;
				g.appendChild(s('rect', {x: x + bw * 0.1, y: Y(y0 + v), width: Math.max(1, bw * 0.8), height: Math.max(1, Y(y0) - Y(y0 + v)), class: 'sc sc-' + k}));
				y0 += v;
			}
			if (i % every === 0)
				g.appendChild(s('text', {x: x + bw / 2, y: height - 8, 'text-anchor': 'middle', class: 'axis'}, bucketLabelT(b.t, bucket)));
			svg.appendChild(g);
		});
		return svg;
	}

	/* Lines over buckets; a null value breaks the line (an empty bucket). */
	function multiLine(series, keys, width, yFmt, maxHint) {
		const height = 200, m = {l: 60, r: 10, t: 12, b: 28};
		const iw = width - m.l - m.r, ih = height - m.t - m.b;
		let mx = maxHint || 0;
		for (const b of series)
			for (const k of keys)
				if (b[k[0]] !== null && b[k[0]] > mx)
					mx = b[k[0]];
		const maxY = maxHint || niceMax(Math.max(mx, 1e-9), false);
		const svg = s('svg', {width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, 'aria-hidden': 'true', focusable: 'false', class: 'multi'});
		const X = (i) => m.l + (series.length > 1 ? iw * i / (series.length - 1) : iw / 2);
		const Y = (v) => m.t + ih - ih * (v / maxY);
		for (let t = 0; t <= 4; t++) {
			const v = maxY * t / 4;
			svg.appendChild(s('line', {x1: m.l, x2: width - m.r, y1: Y(v), y2: Y(v), class: 'grid'}));
			svg.appendChild(s('text', {x: m.l - 6, y: Y(v) + 4, 'text-anchor': 'end', class: 'axis'}, yFmt(v)));
		}
		for (const [k, cls] of keys) {
			let d = '', pen = false;
			series.forEach((b, i) => {
				const v = b[k];
				if (v === null || v === undefined) {
					pen = false;
					return;
				}
				d += (pen ? 'L' : 'M') + X(i).toFixed(1) + ' ' + Y(v).toFixed(1);
				pen = true;
				if (series.length <= 90)
					svg.appendChild(s('circle', {cx: X(i), cy: Y(v), r: 2.5, class: 'pt ' + cls}));
			});
			if (d)
				svg.appendChild(s('path', {d: d, class: 'ln ' + cls}));
		}
		return svg;
	}

	function legend(items) {
		return h('ul', {class: 'legend'}, items.map((i) => h('li', null, h('span', {class: 'swatch ' + i[1]}), i[0])));
	}

	function sparkline(vals, width) {
		const height = 24, max = Math.max(1, ...vals);
		const bw = width / Math.max(1, vals.length);
		const svg = s('svg', {width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, 'aria-hidden': 'true', focusable: 'false', class: 'spark'});
		vals.forEach((v, i) => {
			if (v > 0) {
				const bh = Math.max(2, (height - 2) * v / max);
				svg.appendChild(s('rect', {x: i * bw, y: height - bh, width: Math.max(1, bw - 1), height: bh, class: 'spark-bar'}));
			}
		});
		return svg;
	}

	/* ---- view: overview (series) ---------------------------------------------- */

	async function viewOverview(ctx, route) {
		const p = dashParams(route);
		const [data, routes] = await Promise.all([api('/api/v1/stats/series', p), api('/api/v1/stats/routes', p)]);
		const ser = data.series || [];
		const t = data.totals;
		const header = pageHeader('Overview', 'Requests, status classes, latency percentiles and error rate over the time range, in ' + data.bucket + ' buckets.');
		const stats = h('div', {class: 'stats'},
			statCard('Requests', fmtInt(t.requests), {key: 'requests'}),
			statCard('Errors (4xx, 5xx)', fmtInt(t.errors), {key: 'errors', tone: t.errors ? 'bad' : null}),
			statCard('Error rate', nullPct(t.error_rate), {key: 'error-rate'}),
			statCard('p95 latency', nullMs(t.p95_latency_ms), {key: 'p95'}));
		const charts = h('div', {class: 'grid-2 even'},
			card('Requests by status class', legend([['2xx', 'sc-2xx'], ['3xx', 'sc-3xx'], ['4xx', 'sc-4xx'], ['5xx', 'sc-5xx']]),
				chartSlot((w) => stackedChart(ser, data.bucket, w), 'Requests per ' + data.bucket + ' by status class')),
			card('Latency', legend([['p50', 'l-p50'], ['p95', 'l-p95'], ['p99', 'l-p99']]),
				chartSlot((w) => multiLine(ser, [['p50_latency_ms', 'l-p50'], ['p95_latency_ms', 'l-p95'], ['p99_latency_ms', 'l-p99']], w,
					(v) => tickFmt(v) + ' ms'), 'Latency percentiles per ' + data.bucket)));
		const errChart = card('Error rate', chartSlot((w) => multiLine(ser, [['error_rate', 'l-err']], w,
			(v) => Math.round(v * 100) + '%', 1), 'Error rate per ' + data.bucket));
		const rows = ser.filter((b) => b.requests).slice().reverse().map((b) => h('tr', {'data-t': b.t},
			h('td', {class: 'nowrap'}, timeEl(b.t)),
			h('td', {class: 'num', 'data-k': 'requests'}, fmtInt(b.requests)),
			['2xx', '3xx', '4xx', '5xx'].map((k) => h('td', {class: 'num', 'data-k': k}, fmtInt(b.status[k]))),
			h('td', {class: 'num', 'data-k': 'p50'}, nullMs(b.p50_latency_ms)),
			h('td', {class: 'num', 'data-k': 'p95'}, nullMs(b.p95_latency_ms)),
			h('td', {class: 'num', 'data-k': 'p99'}, nullMs(b.p99_latency_ms)),
			h('td', {class: 'num', 'data-k': 'error-rate'}, nullPct(b.error_rate))));
		const table = h('table', {class: 'data compact', id: 'series-table'},
			h('thead', null, h('tr', null, ['Bucket (UTC)', 'Requests', '2xx', '3xx', '4xx', '5xx', 'p50', 'p95', 'p99', 'Error rate'].map((x, i) =>
				h('th', {scope: 'col', class: i ? 'num' : null}, x)))),
			h('tbody', null, rows));
		const eps = routes.endpoints || [];
		const epTable = h('table', {class: 'data compact', id: 'routes-table'},
			h('thead', null, h('tr', null, ['Endpoint', 'Requests', 'Errors', 'p95'].map((x, i) => h('th', {scope: 'col', class: i ? 'num' : null}, x)))),
			h('tbody', null, eps.map((e) => h('tr', {'data-route': e.route, 'data-unmatched': e.unmatched ? '1' : null},
				h('th', {scope: 'row'}, e.unmatched
					? h('a', {href: dashHash('search', route, {unmatched: '1'}), id: 'unmatched-link'}, 'Unmatched requests (' + fmtInt(e.distinct_paths) + ' paths)')
					: [methodBadge(e.method), ' ', h('a', {class: 'route', href: dashHash('search', route, {method: e.method, route: e.route})}, e.route)]),
				h('td', {class: 'num', 'data-k': 'count'}, fmtInt(e.count)),
				h('td', {class: 'num', 'data-k': 'errors'}, fmtInt(e.errors)),
				h('td', {class: 'num'}, nullMs(e.p95_latency_ms))))));
		ctx.mount(header, filterBar('overview', route), stats, charts, errChart,
			card('Endpoints', eps.length ? tableWrap(epTable, 'Endpoints') : h('p', {class: 'muted'}, 'No requests in this range.')),
			card('Buckets with traffic', rows.length ? tableWrap(table, 'Series') : h('p', {class: 'muted', id: 'series-empty'}, 'No requests in this range.')));
	}

	/* ---- view: errors ----------------------------------------------------------- */

	async function viewErrors(ctx, route) {
		const p = dashParams(route);
		const data = await api('/api/v1/errors', p);
		const groups = data.groups || [];
		const header = pageHeader('Errors', 'Exceptions grouped by type and endpoint; 4xx and 5xx without an exception grouped by status and endpoint.');
		const list = groups.map((g, i) => {
			const title = g.kind === 'exception' ? g.type : 'HTTP ' + g.status;
			const where = g.unmatched ? {unmatched: '1'} : {method: g.method, route: g.route};
			const drill = Object.assign(where, g.kind === 'exception' ? {q: g.type} : {status: String(g.status)});
			return h('li', {class: 'card egroup', 'data-kind': g.kind, 'data-type': title, 'data-route': g.route, 'data-count': String(g.count)},
				h('div', {class: 'eg-head'},
					h('h2', {class: 'eg-title'}, h('span', {class: 'badge ' + (g.kind === 'exception' ? 'st-5xx' : statusClass(g.status))}, title), ' ',
						g.unmatched ? null : methodBadge(g.method), ' ', h('span', {class: 'route'}, g.unmatched ? 'Unmatched requests' : g.route)),
					h('div', {class: 'eg-count'}, h('span', {class: 'eg-n'}, fmtInt(g.count)), g.count === 1 ? ' event' : ' events')),
				h('div', {class: 'eg-meta muted small'}, 'First seen ', timeEl(g.first_seen), ' · last seen ', timeEl(g.last_seen)),
				chartSlot((w) => sparkline(g.series, Math.min(w, 600)), 'Events over the range'),
				g.latest.message ? h('p', {class: 'eg-msg mono'}, shorten(g.latest.message, 300)) : null,
				g.latest.stack ? h('details', null, h('summary', null, 'Latest stack trace'), h('pre', {class: 'stack'}, g.latest.stack)) : null,
				h('p', {class: 'eg-links'},
					g.latest.event_id ? h('a', {href: eventHref(g.latest.event_id), class: 'eg-latest'}, 'Latest event') : null, ' · ',
					h('a', {href: dashHash('search', route, drill), class: 'eg-drill', id: 'eg-drill-' + i}, g.count === 1 ? 'The event' : 'All ' + fmtInt(g.count) + ' events')));
		});
		ctx.mount(header, filterBar('errors', route),
			h('div', {class: 'stats'}, statCard('Errors', fmtInt(data.errors), {key: 'errors', tone: data.errors ? 'bad' : null}),
				statCard('Groups', fmtInt(groups.length), {key: 'groups'})),
			groups.length ? h('ol', {class: 'egroups', id: 'error-groups'}, list)
				: emptyState('No errors', 'No 4xx, 5xx or exceptions in this range and filter.', false));
	}

	/* ---- view: search + export -------------------------------------------------- */

	function searchRow(e) {
		const tr = h('tr', {class: 'ev-row' + (e.error ? ' is-error' : ''), 'data-event-id': e.event_id},
			h('td', {class: 'nowrap t'}, timeEl(e.event_time)),
			h('td', null, methodBadge(e.method)),
			h('td', {class: 'path'}, h('a', {class: 'mono', href: eventHref(e.event_id)}, String(e.path)),
				e.unmatched ? h('span', {class: 'chip chip-warn'}, 'unmatched') : null),
			h('td', null, statusBadge(e.status)),
			h('td', {class: 'num nowrap'}, fmtMs(e.latency_ms)),
			h('td', {class: 'mono'}, e.user_id ? h('a', {href: '#/user/' + encodeURIComponent(e.user_id)}, shorten(e.user_id, 16)) : '—'),
			h('td', {class: 'mono'}, e.agent_id ? h('a', {href: '#/agent/' + encodeURIComponent(e.agent_id)}, shorten(e.agent_id, 10)) : '—'));
		return tr;
	}

	function searchTable(id, events) {
		return h('table', {class: 'data events', id: id},
			h('thead', null, h('tr', null, ['Time (UTC)', 'Method', 'Path', 'Status', 'Latency', 'User', 'Agent'].map((x) =>
				h('th', {scope: 'col', class: x === 'Latency' ? 'num' : null}, x)))),
			h('tbody', null, events.map(searchRow)));
	}

	/* Export: fetched with the key header (never in a URL), then saved. */
	async function download(params, format) {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(params))
			q.set(k, String(v));
		q.set('format', format);
		const r = await fetch('/api/v1/export?' + q.toString(), {
			headers: {[KEY_HEADER]: state.key || ''}, cache: 'no-store', credentials: 'omit'});
		if (!r.ok)
			throw new ApiError(r.status, 'export failed (HTTP ' + r.status + ')');
		const blob = await r.blob();
		const url = URL.createObjectURL(blob);
		const a = h('a', {href: url, download: 'otas-events.' + format, hidden: true});
		document.body.appendChild(a);
		a.click();
		a.remove();
		window.setTimeout(() => URL.revokeObjectURL(url), 10000);
		/* What was saved, for the page's own tests (a size, no data). */
		document.documentElement.dataset.exportBytes = String(blob.size);
		document.documentElement.dataset.exportFormat = format;
		announce('Export ready: ' + blob.size + ' bytes');
	}

	async function eventsCard(ctx, route, p, id) {
		const out = h('div', null);
		let cursor = null;
		const more = h('button', {type: 'button', class: 'btn', id: id + '-more', hidden: true}, 'Load older events');
		/* A text under 3 characters is not in the index: the collector
		 * checks it on a capped number of rows (text_search "scan"). */
		const note = h('p', {class: 'muted', id: id + '-text-note', hidden: true},
			'Text shorter than 3 characters is checked on the newest events only, a page at a time: load older events to go on.');
		async function page() {
			const data = await api('/api/v1/search', Object.assign({}, p, {limit: 50, cursor: cursor}));
			if (!ctx.alive())
				return;
			const evs = data.events || [];
			const table = out.querySelector('table');
			if (table)
				append(table.tBodies[0], evs.map(searchRow));
			else
				out.replaceChildren(evs.length ? h('div', {class: 'card flush'}, tableWrap(searchTable(id, evs), 'Events'))
					: emptyState('No events match', 'Nothing matches these filters in this range.', false));
			cursor = data.next;
			more.hidden = !cursor;
			note.hidden = !(data.text_search === 'scan' && data.truncated);
		}
		more.addEventListener('click', () => page().catch(() => {}));
		await page();
		return h('div', null, note, out, h('p', {class: 'more'}, more));
	}

	async function viewSearch(ctx, route) {
		const p = dashParams(route);
		const header = pageHeader('Search', 'Every filter is in the URL: copy it to share this list.',
			h('button', {type: 'button', class: 'btn', id: 'export-csv', onclick: () => download(p, 'csv')}, 'Export CSV'),
			h('button', {type: 'button', class: 'btn', id: 'export-json', onclick: () => download(p, 'json')}, 'Export JSON'));
		const totals = await api('/api/v1/stats/series', Object.assign({}, p, {bucket: p.range === '30d' || p.range === '7d' ? 'day' : 'hour'}));
		const body = await eventsCard(ctx, route, p, 'search-table');
		ctx.mount(header, filterBar('search', route),
			h('p', {class: 'muted', id: 'search-count'}, fmtInt(totals.totals.requests) + ' matching requests'), body);
	}

	/* ---- views: users, companies ---------------------------------------------- */

	/* What an entity is called: its name or e-mail, at the top level (the
	 * form of the README's otas.update_user()) or in its metadata (Moesif's). */
	function entName(e) {
		if (!e)
			return '';
		const m = e.metadata || {};
		const v = e.name || e.email || m.name || m.email;
		return v ? String(v) : '';
	}

	/* The fields of an entity a profile shows: the top-level ones but its ids
	 * and bookkeeping, then its metadata's. */
	const ENTITY_OWN = new Set(['user_id', 'company_id', 'subscription_id', 'kind', 'metadata', 'updated_at']);

	function entityProps(e) {
		const out = [];
		const add = (k, v) => out.push(h('div', {class: 'prop'}, h('dt', null, k),
			h('dd', {class: 'mono'}, typeof v === 'string' ? v : JSON.stringify(v))));
		if (!e)
			return out;
		for (const [k, v] of Object.entries(e))
			if (!ENTITY_OWN.has(k) && v !== null && v !== '')
				add(k, v);
		if (e.metadata && typeof e.metadata === 'object')
			for (const [k, v] of Object.entries(e.metadata))
				add(k, v);
		return out;
	}

	/* A table of users or companies (kind) from /stats/users|companies rows:
	 * each linked to its page, with its name, requests, errors, last seen. */
	function peopleTable(list, kind, route, attrs) {
		const head = kind === 'user' ? 'User' : 'Company';
		return h('table', attrs,
			h('thead', null, h('tr', null, [head, 'Name', 'Requests', 'Errors', 'Last seen'].map((x, i) =>
				h('th', {scope: 'col', class: i === 2 || i === 3 ? 'num' : null}, x)))),
			h('tbody', null, list.map((u) => h('tr', {'data-id': u.id},
				h('th', {scope: 'row'}, h('a', {class: 'mono', href: dashHash(kind + '/' + encodeURIComponent(u.id), route, {})}, u.id)),
				h('td', null, entName(u.entity)),
				h('td', {class: 'num', 'data-k': 'requests'}, fmtInt(u.requests)),
				h('td', {class: 'num' + (u.errors ? ' bad' : ''), 'data-k': 'errors'}, fmtInt(u.errors)),
				h('td', {class: 'nowrap'}, u.last_seen ? timeEl(u.last_seen) : h('span', {class: 'muted'}, 'not in range'))))));
	}

	async function viewPeople(ctx, route, kind) {
		const plural = kind === 'user' ? 'users' : 'companies';
		const p = dashParams(route);
		const data = await api('/api/v1/stats/' + plural, p);
		const list = data[plural] || [];
		const title = kind === 'user' ? 'Users' : 'Companies';
		const header = pageHeader(title, 'Traffic, errors and last seen in the range, from events and ' + kind + ' updates.');
		const table = peopleTable(list, kind, route, {class: 'data', id: plural + '-table'});
		ctx.mount(header, filterBar(plural, route, {noFilters: true}),
			list.length ? h('div', {class: 'card flush'}, tableWrap(table, title))
				: emptyState('No ' + plural + ' yet', 'Events carry metadata.' + kind + '_id when the SDK identifies them.', false));
	}

	async function viewPerson(ctx, route, kind) {
		const id = route.arg;
		const plural = kind === 'user' ? 'users' : 'companies';
		const p = dashParams(route, {[kind]: id});
		const [ser, ppl, members] = await Promise.all([api('/api/v1/stats/series', p),
			api('/api/v1/stats/' + plural, dashParams(route)),
			kind === 'company' ? api('/api/v1/stats/users', dashParams(route)) : null]);
		const me = (ppl[plural] || []).find((x) => x.id === id) || {};
		// A company's users: those whose events or updates name it.
		const users = members ? (members.users || []).filter((u) => u.company_id === id) : [];
		const t = ser.totals;
		const header = pageHeader((kind === 'user' ? 'User ' : 'Company ') + id, null,
			h('a', {class: 'btn', href: dashHash('search', route, {[kind]: id})}, 'Search its requests'));
		const props = entityProps(me.entity);
		if (kind === 'user' && me.company_id)
			props.push(h('div', {class: 'prop'}, h('dt', null, 'company'), h('dd', null, h('a', {href: '#/company/' + encodeURIComponent(me.company_id)}, me.company_id))));
		const body = await eventsCard(ctx, route, p, 'person-events');
		ctx.mount(header, filterBar(kind + '/' + encodeURIComponent(id), route, {noFilters: true}),
			h('div', {class: 'stats'}, statCard('Requests', fmtInt(t.requests), {key: 'requests'}),
				statCard('Errors', fmtInt(t.errors), {key: 'errors', tone: t.errors ? 'bad' : null}),
				statCard('Error rate', nullPct(t.error_rate), {key: 'error-rate'}),
				statCard('p95 latency', nullMs(t.p95_latency_ms), {key: 'p95'})),
			props.length ? card('Profile', h('dl', {class: 'props'}, props)) : null,
			card('Requests over time', chartSlot((w) => stackedChart(ser.series, ser.bucket, w), 'Requests by status class')),
			users.length ? card('Users (' + fmtInt(users.length) + ')',
				tableWrap(peopleTable(users, 'user', route, {class: 'data compact', id: 'company-users'}), 'Users')) : null,
			body);
	}

	/* ---- views: agents ---------------------------------------------------------- */

	async function viewAgents(ctx, route) {
		if (route.arg)
			return viewAgent(ctx, route);
		const p = dashParams(route);
		const data = await api('/api/v1/stats/agents', p);
		const list = data.agents || [];
		const header = pageHeader('Agents', 'Each agent across its sessions: calls, errors, endpoints used.');
		const table = h('table', {class: 'data', id: 'agents-table'},
			h('thead', null, h('tr', null, ['Agent', 'Sessions', 'Calls', 'Errors', 'Last seen'].map((x, i) =>
				h('th', {scope: 'col', class: i && i < 4 ? 'num' : null}, x)))),
			h('tbody', null, list.map((a) => h('tr', {'data-id': a.agent_id},
				h('th', {scope: 'row'}, h('a', {class: 'mono', href: dashHash('agent/' + encodeURIComponent(a.agent_id), route, {})}, a.agent_id)),
				h('td', {class: 'num', 'data-k': 'sessions'}, fmtInt(a.sessions)),
				h('td', {class: 'num', 'data-k': 'calls'}, fmtInt(a.calls)),
				h('td', {class: 'num' + (a.errors ? ' bad' : ''), 'data-k': 'errors'}, fmtInt(a.errors)),
				h('td', {class: 'nowrap'}, timeEl(a.last_seen))))));
		ctx.mount(header, filterBar('agents', route, {noFilters: true}),
			list.length ? h('div', {class: 'card flush'}, tableWrap(table, 'Agents'))
				: emptyState('No agent traffic', 'Agents send X-OTAS-Agent-Session-Token with their calls.', false));
	}

	async function viewAgent(ctx, route) {
		const id = route.arg;
		const p = dashParams(route, {agent: id});
		const [data, sess] = await Promise.all([api('/api/v1/stats/agents', p), api('/api/v1/agent-sessions')]);
		const a = (data.agents || []).find((x) => x.agent_id === id) || {sessions: 0, calls: 0, errors: 0, endpoints: []};
		const mine = (sess.sessions || []).filter((x) => x.agent_id === id);
		const header = pageHeader('Agent ' + id, 'Its sessions and the endpoints it called in the range.');
		const eps = h('table', {class: 'data compact', id: 'agent-endpoints'},
			h('thead', null, h('tr', null, ['Endpoint', 'Calls', 'Errors'].map((x, i) => h('th', {scope: 'col', class: i ? 'num' : null}, x)))),
			h('tbody', null, a.endpoints.map((e) => h('tr', {'data-route': e.route},
				h('th', {scope: 'row'}, methodBadge(e.method), ' ', h('span', {class: 'route'}, e.route)),
				h('td', {class: 'num', 'data-k': 'count'}, fmtInt(e.count)),
				h('td', {class: 'num', 'data-k': 'errors'}, fmtInt(e.errors))))));
		const st = h('table', {class: 'data compact', id: 'agent-sessions'},
			h('thead', null, h('tr', null, ['Session', 'Events', 'Errors', 'Last seen'].map((x, i) => h('th', {scope: 'col', class: i && i < 3 ? 'num' : null}, x)))),
			h('tbody', null, mine.map((x) => h('tr', {'data-id': x.agent_session_id},
				h('th', {scope: 'row'}, h('a', {class: 'mono', href: hashWith('sessions/' + encodeURIComponent(x.agent_session_id), {agent: x.agent_id, verified: x.verified ? '1' : '0'})}, shorten(x.agent_session_id, 18))),
				h('td', {class: 'num'}, fmtInt(x.events)), h('td', {class: 'num'}, fmtInt(x.errors)),
				h('td', {class: 'nowrap'}, timeEl(x.last_seen))))));
		ctx.mount(header, filterBar('agent/' + encodeURIComponent(id), route, {noFilters: true}),
			h('div', {class: 'stats'}, statCard('Sessions', fmtInt(a.sessions), {key: 'sessions'}),
				statCard('Calls', fmtInt(a.calls), {key: 'calls'}),
				statCard('Errors', fmtInt(a.errors), {key: 'errors', tone: a.errors ? 'bad' : null})),
			h('div', {class: 'grid-2 even'}, card('Endpoints used', tableWrap(eps, 'Endpoints used')),
				card('Sessions (all time)', tableWrap(st, 'Sessions'))),
			h('p', null, h('a', {href: dashHash('search', route, {agent: id})}, 'All calls of this agent')));
	}

	/* ---- start ----------------------------------------------------------------------------- */

	function start() {
		$('signin-form').addEventListener('submit', onSignInSubmit);
		$('sign-out').addEventListener('click', () => {
			signOut('');
			announce('Signed out');
		});
		$('skip-link').addEventListener('click', (e) => {
			/* Move focus without changing the hash (the hash is the view). */
			e.preventDefault();
			const main = $('main');
			const target = main.querySelector('#view h1') || main;
			if (target !== main)
				target.setAttribute('tabindex', '-1');
			target.focus();
		});
		window.addEventListener('hashchange', render);
		let key = null;
		try {
			key = sessionStorage.getItem(KEY_STORE);
		} catch (e) {
			key = null;
		}
		if (!key) {
			showSignedIn(false);
			return;
		}
		trySignIn(key, false).then((ok) => {
			if (ok)
				render();
			else
				signOut('Your saved key was not accepted. Sign in again.');
		});
	}

	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', start);
	else
		start();
})();
