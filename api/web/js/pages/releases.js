// Release requests (exports for partner nations): a foreign disclosure officer's queue, and a requester's
// own requests with the download of an approved one. The banner is the roll-up of the requests shown.

import { api } from "../api.js";
import { setPageMarkings } from "../banner.js";
import { guarded, h, mount, notice, table } from "../dom.js";

async function download(request, status) {
  const response = await api(`releases/${request.id}/download`, { raw: true, headers: { Accept: "*/*" } });
  const blob = await response.blob();
  const link = h("a", { href: URL.createObjectURL(blob), download: `release-${request.id}.geojson` });
  document.body.append(link);
  link.click();
  link.remove();
  mount(status, notice(`Downloaded: sha256 ${response.headers.get("X-GeoLabel-SHA256")}`, "info"));
}

function decision(request, me, status, reload) {
  const officer = new Set(me.roles).has("foreign_disclosure_officer");
  if (request.state === "pending" && officer && request.requested_by !== me.id) {
    const why = h("input", { size: "28", placeholder: "justification", "aria-label": `justification for ${request.id}` });
    const decide = (verdict) =>
      guarded(status, async () => {
        await api(`releases/${request.id}/${verdict}`, { method: "POST", json: { justification: why.value } });
        await reload();
      });
    return h(
      "span",
      { class: "row" },
      why,
      h("button", { type: "button", dataset: { approve: request.id }, onclick: decide("approve") }, "Approve"),
      h("button", { type: "button", class: "danger", dataset: { deny: request.id }, onclick: decide("deny") }, "Deny"),
    );
  }
  if (request.state === "approved" && request.requested_by === me.id) {
    return h(
      "button",
      { type: "button", dataset: { download: request.id }, onclick: guarded(status, () => download(request, status)) },
      "Download",
    );
  }
  return request.justification ? `${request.state}: ${request.justification}` : request.state;
}

export async function render(root, _params, me) {
  const requests = await api("releases");
  const status = h("div", { class: "status-line", id: "status" });
  const reload = () => render(root, _params, me);
  const rows = requests.map((r) => [
    r.id.slice(0, 8),
    r.recipient,
    r.banner,
    String(r.features),
    new Date(r.requested_at).toLocaleString(),
    r.requested_by === me.id ? "you" : "another user",
    decision(r, me, status, reload),
  ]);
  mount(
    root,
    h("h1", {}, "Releases to partner nations"),
    h(
      "p",
      { class: "muted" },
      "An export for a partner nation waits here for a foreign disclosure officer other than its requester; " +
        "once approved, its requester downloads exactly what was reviewed.",
    ),
    requests.length
      ? table(["request", "recipient", "banner", "features", "requested", "by", ""], rows)
      : notice("No release requests."),
    status,
  );
  await setPageMarkings(requests.map((r) => r.banner));
}
