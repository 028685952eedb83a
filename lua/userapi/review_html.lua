--- An access review (@{userapi.review}) as one self-contained HTML file: no
-- network, no external file. A summary per vendor (counts, and a bar chart
-- of accounts by flag), then a table of every account, sortable (click a
-- column) and filterable (text, flag, vendor). The view is kept in the
-- address's fragment (`report.html#flag=stale&sort=-last_login`), so a
-- filtered, sorted view can be shared as a link. Rows are written as they
-- are read: memory does not grow with the number of accounts.
-- @module userapi.review_html
local review = require "userapi.review"

local pairs, ipairs, tostring, pcall, format, concat = pairs, ipairs, tostring, pcall, string.format, table.concat

local _M = {}

local ENT = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

--- Text as HTML (element content or a quoted attribute).
-- @tparam any v
-- @treturn string
function _M.escape(v)
  return (tostring(v == nil and "" or v):gsub("[&<>\"']", ENT):gsub("[%z\1-\8\11\12\14-\31\127]", "\239\191\189"))
end
local esc = _M.escape

local COLORS = { stale = "#d9822b", pending = "#2b7bd9", orphan = "#c23030", missing = "#8a3ffc", service = "#6b7785" }

local STYLE = [[
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1c2127}
h1{font-size:1.4em}table{border-collapse:collapse}
#summary td,#summary th{padding:.3em .8em;text-align:right}
#summary th:first-child,#summary td:first-child{text-align:left}
#accounts{width:100%;margin-top:1em}
#accounts th{cursor:pointer;text-align:left;border-bottom:2px solid #ccc;padding:.3em}
#accounts td{padding:.2em .3em;border-bottom:1px solid #eee}#accounts th[aria-sort]{background:#eef}
.flag{display:inline-block;border-radius:3px;padding:0 .4em;margin-right:.2em;color:#fff;font-size:.85em}
.controls{margin:1em 0}.controls label{margin-right:1em}svg{vertical-align:middle}
]]

local SCRIPT = [[
(function () {
  var table = document.getElementById('accounts'), body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells, text = document.getElementById('q');
  var flag = document.getElementById('flag'), vendor = document.getElementById('vendor');
  var view = { q: '', flag: '', vendor: '', sort: '' };
  function readHash() {
    view = { q: '', flag: '', vendor: '', sort: '' };
    location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
      // a hand-edited link ("#q=100%") must not stop the page: the raw text then
      var i = kv.indexOf('='), v = kv.slice(i + 1);
      try { v = decodeURIComponent(v); } catch (e) { /* kept as typed */ }
      if (i > 0 && view.hasOwnProperty(kv.slice(0, i))) view[kv.slice(0, i)] = v;
    });
    text.value = view.q; flag.value = view.flag; vendor.value = view.vendor;
  }
  function writeHash() {
    var parts = [];
    ['q', 'flag', 'vendor', 'sort'].forEach(function (k) {
      if (view[k]) parts.push(k + '=' + encodeURIComponent(view[k]));
    });
    history.replaceState(null, '', parts.length ? '#' + parts.join('&') : location.pathname);
  }
  function apply() {
    var rows = Array.prototype.slice.call(body.rows), shown = 0;
    if (view.sort) {
      var desc = view.sort.charAt(0) === '-', key = desc ? view.sort.slice(1) : view.sort, col = -1;
      for (var i = 0; i < heads.length; i++) {
        heads[i].removeAttribute('aria-sort');
        if (heads[i].dataset.key === key) col = i;
      }
      if (col >= 0) {
        heads[col].setAttribute('aria-sort', desc ? 'descending' : 'ascending');
        rows.sort(function (a, b) {
          var x = a.cells[col].textContent, y = b.cells[col].textContent;
          return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
    }
    var q = view.q.toLowerCase();
    rows.forEach(function (r) {
      var ok = (!q || r.textContent.toLowerCase().indexOf(q) >= 0)
        && (!view.flag || (' ' + r.dataset.flags + ' ').indexOf(' ' + view.flag + ' ') >= 0)
        && (!view.vendor || r.dataset.vendor === view.vendor);
      r.hidden = !ok; if (ok) shown++;
    });
    document.getElementById('shown').textContent = shown;
  }
  for (var i = 0; i < heads.length; i++) {
    heads[i].addEventListener('click', function () {
      var key = this.dataset.key;
      view.sort = view.sort === key ? '-' + key : key; writeHash(); apply();
    });
  }
  [text, flag, vendor].forEach(function (el) {
    el.addEventListener('input', function () {
      view.q = text.value; view.flag = flag.value; view.vendor = vendor.value; writeHash(); apply();
    });
  });
  window.addEventListener('hashchange', function () { readHash(); apply(); });
  readHash(); apply();
})();
]]

-- a small horizontal bar chart of one vendor's accounts by flag (inline SVG)
local function chart(c)
  local max = 1
  for _, f in ipairs(review.FLAGS) do if c[f] > max then max = c[f] end end
  local parts = { '<svg width="160" height="', #review.FLAGS * 10, '" role="img" aria-label="accounts by flag">' }
  for i, f in ipairs(review.FLAGS) do
    local w = c[f] > 0 and math.max(1, math.floor(150 * c[f] / max + 0.5)) or 0
    parts[#parts + 1] = format('<rect class="bar" data-flag="%s" data-count="%d" x="0" y="%d" width="%d" height="8"'
      .. ' fill="%s"><title>%s: %d</title></rect>', f, c[f], (i - 1) * 10, w, COLORS[f], f, c[f])
  end
  parts[#parts + 1] = "</svg>"
  return concat(parts)
end

local function summary(w, rv)
  w('<table id="summary"><thead><tr><th>vendor</th><th>accounts</th>')
  for _, f in ipairs(review.FLAGS) do w("<th>", f, "</th>") end
  w("<th>by flag</th></tr></thead><tbody>\n")
  local names = {}
  for i, v in ipairs(rv.vendors) do names[i] = v end
  names[#names + 1] = "total"
  for _, v in ipairs(names) do
    local c = rv.summary[v]
    w('<tr data-vendor="', esc(v), '"><td>', esc(v), '</td><td class="n" data-count="accounts">', c.accounts, "</td>")
    for _, f in ipairs(review.FLAGS) do w('<td class="n" data-count="', f, '">', c[f], "</td>") end
    w("<td>", v == "total" and "" or chart(c), "</td></tr>\n")
  end
  w("</tbody></table>\n")
end

local HEADS = { { "email", "person" }, { "vendor", "vendor" }, { "id", "id" }, { "name", "name" },
                { "kind", "kind" }, { "state", "state" }, { "last_login", "last login" }, { "flags", "flags" } }

local function row_html(r)
  local flags = {}
  for f in (r.flags or ""):gmatch("%S+") do
    flags[#flags + 1] = format('<span class="flag" style="background:%s">%s</span>', COLORS[f] or "#555", esc(f))
  end
  return format('<tr data-vendor="%s" data-flags="%s"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>'
    .. '<td>%s</td><td>%s</td><td>%s</td></tr>\n', esc(r.vendor), esc(r.flags), esc(r.email), esc(r.vendor),
    esc(r.id), esc(r.name), esc(r.kind), esc(r.state), esc(r.last_login), concat(flags, " "))
end

--- Writes the report.
-- @tparam file out where to write (`write` returns nil, err on failure)
-- @tparam userapi.review.Review rv a review
-- @tparam[opt] table opts `title`, `generated` (a time stamp to print)
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] string a failed write
function _M.write(out, rv, opts)
  opts = opts or {}
  local ok, err = pcall(function()
    local function w(...)
      local r, e = out:write(...)
      if not r then error(e, 0) end
    end
    local title = opts.title or "Access review"
    w('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>', esc(title), "</title>",
      '<meta name="viewport" content="width=device-width"><style>', STYLE, "</style></head><body>\n")
    w("<h1>", esc(title), "</h1>\n<p>", rv.people or 0, " people, ", rv.summary.total.accounts, " accounts in ",
      #rv.vendors, " vendors", opts.generated and (", " .. esc(opts.generated)) or "", ".</p>\n")
    for v, e in pairs(rv.failed or {}) do
      w('<p class="failed">', esc(v), ": the walk failed, the review is incomplete: ", esc(e), "</p>\n")
    end
    summary(w, rv)
    w('<div class="controls"><label>filter <input id="q" type="search"></label>',
      '<label>flag <select id="flag"><option value="">any</option>')
    for _, f in ipairs(review.FLAGS) do w('<option value="', f, '">', f, "</option>") end
    w('</select></label><label>vendor <select id="vendor"><option value="">any</option>')
    for _, v in ipairs(rv.vendors) do w('<option value="', esc(v), '">', esc(v), "</option>") end
    w('</select></label><span><span id="shown"></span> shown</span></div>\n<table id="accounts"><thead><tr>')
    for _, h in ipairs(HEADS) do w('<th data-key="', h[1], '">', h[2], "</th>") end
    w("</tr></thead><tbody>\n")
    for r in rv:rows() do w(row_html(r)) end
    w("</tbody></table>\n<script>", SCRIPT, "</script>\n</body></html>\n")
  end)
  if not ok then return nil, tostring(err) end
  return true
end

return _M
