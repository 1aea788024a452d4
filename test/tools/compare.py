#!/usr/bin/env python3
# Copied unchanged from ../shared/tools/compare.py, relative to the repository root (the project's shared tools;
# keep in sync by copying, do not edit here).
"""Structural comparison of a gateway's xDS: Istio oracle output vs. meshgate output.

Usage:
  compare.py [-v] ISTIO_PROXY_DIR MESHGATE_JSON   compare (exit status is always 0)
  compare.py --from-istio DIR [-o OUT.json]         oracle dir -> MESHGATE_JSON shape (stdout by default)
  compare.py --dump DIR_OR_JSON                     print the normalized summary of one side
  compare.py --self-test CASES_DIR                  round-trip + perturbation test over every case

ISTIO_PROXY_DIR is an oracle proxy directory (listeners.json, routes.json, clusters.json,
endpoints.json), or a directory holding exactly one such proxy directory (e.g. bars/cases/X/istio).
MESHGATE_JSON is a file {"listeners": [...], "routes": [...], "clusters": [...], "endpoints": [...],
"secrets": [...]}: Envoy v3 resources in protojson (lowerCamelCase; snake_case is accepted too).
Either argument may be a directory or a JSON file.

What is compared (everything else is ignored on purpose: Istio-only filters such as
istio.metadata_exchange / istio.stats / istio.alpn, stat prefixes, metadata, decorators, timeouts,
retry policies, circuit breakers, BlackHoleCluster/PassthroughCluster, clusters no listener/route
refers to, transport_socket_matches details):
  listeners      set of listener names (with their socket address)
  filter_chains  per listener: listener filters (non-Istio) and filter chains keyed by
                 (sorted server_names, sorted application_protocols); per chain the terminal action
                 (HCM -> RDS name, tcp_proxy -> cluster / weighted clusters, else the filter name),
                 other network filters (e.g. mongo_proxy), HTTP filters other than Istio's and the
                 always-installed grpc_stats/fault/cors (those only count when a route needs them and
                 they are missing: "missing_http_filters"), and the downstream TLS context (SDS secret names, validation, require_client_certificate,
                 SAN matchers, TLS versions, cipher suites, ALPN)
  routes         per referenced route config: virtual hosts keyed by their domain set; per virtual
                 host require_tls and the ordered routes: match (path/prefix/regex, headers, query)
                 -> action (cluster, weighted clusters as relative weights, redirect, direct response),
                 rewrites, mirrors, fault (delay/abort + percentage) and CORS
  clusters       every cluster referenced by a filter chain or a route: discovery type and upstream
                 TLS (transport_socket only; transport_socket_matches -> "auto")
  endpoints      per referenced cluster: sorted set of endpoint address:port (EDS from endpoints,
                 otherwise the cluster's load_assignment)
  secrets        informational only (not scored): referenced SDS names missing from "secrets"
The last line is "agreement N/M": N of M compared units (listeners, listener-filter sets, filter
chains, virtual hosts, clusters, endpoint sets) are identical.
"""
import copy
import json
import os
import re
import sys

# ----------------------------------------------------------------------------- generic helpers

_CAMEL = re.compile(r"_([a-z0-9])")


def _camel(s):
    return _CAMEL.sub(lambda m: m.group(1).upper(), s)


def _snake(s):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), s)


def g(obj, name, default=None):
    """Field lookup accepting lowerCamelCase (protojson) and snake_case (proto names)."""
    if not isinstance(obj, dict):
        return default
    for k in (name, _snake(name), _camel(name)):
        if k in obj:
            return obj[k]
    return default


def unwrap(v):
    """google.protobuf wrappers may appear as {"value": x} in hand-written JSON."""
    if isinstance(v, dict) and set(v) == {"value"}:
        return v["value"]
    return v


def typed(obj):
    """typed_config of a filter / transport socket (expanded Any), or {}."""
    tc = g(obj, "typedConfig") or {}
    # envoy.config.route.v3.FilterConfig wrapper in typed_per_filter_config
    if str(tc.get("@type", "")).endswith("envoy.config.route.v3.FilterConfig"):
        tc = g(tc, "config") or {}
    # udpa/xds TypedStruct: keep the inner value
    if str(tc.get("@type", "")).endswith("TypedStruct"):
        inner = dict(g(tc, "value") or {})
        inner["@type"] = g(tc, "typeUrl", "")
        tc = inner
    return tc


def type_name(tc):
    return str(tc.get("@type", "")).rsplit(".", 1)[-1]


def frac_percent(fp):
    """envoy.type.v3.FractionalPercent -> percent (float)."""
    if fp is None:
        return 100.0
    num = float(unwrap(g(fp, "numerator", 0)) or 0)
    den = g(fp, "denominator", "HUNDRED") or "HUNDRED"
    scale = {"HUNDRED": 100.0, "TEN_THOUSAND": 10000.0, "MILLION": 1000000.0}.get(den, 100.0)
    return round(num * 100.0 / scale, 6)


def is_istio_noise_filter(name):
    return name.startswith("istio.") or name in (
        "envoy.filters.network.metadata_exchange", "envoy.filters.http.wasm", "envoy.filters.network.wasm")


NOISE_CLUSTERS = {"BlackHoleCluster", "PassthroughCluster", "InboundPassthroughCluster",
                  "InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6"}

# ----------------------------------------------------------------------------- loading


def _read(path):
    with open(path) as f:
        return json.load(f)


def _proxy_dir(d):
    if os.path.exists(os.path.join(d, "listeners.json")):
        return d
    subs = [os.path.join(d, s) for s in sorted(os.listdir(d))
            if os.path.exists(os.path.join(d, s, "listeners.json"))]
    if len(subs) == 1:
        return subs[0]
    raise SystemExit(f"{d}: no listeners.json (and not exactly one proxy subdirectory: {subs})")


def load_bundle(path):
    if os.path.isdir(path):
        d = _proxy_dir(path)
        b = {}
        for k in ("listeners", "routes", "clusters", "endpoints", "secrets"):
            p = os.path.join(d, k + ".json")
            b[k] = (_read(p) or []) if os.path.exists(p) else []
        return b
    b = _read(path)
    if not isinstance(b, dict):
        raise SystemExit(f"{path}: expected a JSON object with listeners/routes/clusters/endpoints/secrets")
    return {k: (b.get(k) or []) for k in ("listeners", "routes", "clusters", "endpoints", "secrets")}

# ----------------------------------------------------------------------------- TLS


def _file_norm(name):
    """Istio serves gateway cert files through its agent's SDS as file-cert:<crt>~<key> and
    file-root:<ca>; a control plane without an agent points Envoy at the files inline. Both name
    the same files, so both normalise to file:<path>."""
    if name.startswith("file-cert:"):
        return "file:" + name[len("file-cert:"):].split("~")[0]
    if name.startswith("file-root:"):
        name = "file:" + name[len("file-root:"):]
    if name == "file:system" or name.startswith(("file:/etc/ssl/", "file:/etc/pki/")):
        return "file:system-roots"
    return name


def _sds_names(cfgs):
    return sorted(_file_norm(str(g(c, "name", ""))) for c in (cfgs or []))


def _inline_cert_names(certs):
    out = []
    for c in certs or []:
        chain = g(c, "certificateChain") or {}
        fn = g(chain, "filename")
        out.append(_file_norm("file:" + str(fn)) if fn else ("inline:" + ("bytes" if chain else "?")))
    return out


def _san_matchers(vc):
    out = set()
    for m in g(vc, "matchSubjectAltNames") or []:
        out.add(_string_matcher(m))
    for t in g(vc, "matchTypedSubjectAltNames") or []:
        out.add(_string_matcher(g(t, "matcher") or {}))
    return sorted(out)


def common_tls(ctx):
    ctx = ctx or {}
    res = {}
    certs = _sds_names(g(ctx, "tlsCertificateSdsSecretConfigs")) + _inline_cert_names(g(ctx, "tlsCertificates"))
    prov = g(ctx, "tlsCertificateProviderInstance") or g(ctx, "tlsCertificateCertificateProviderInstance")
    if prov:
        certs.append("provider:%s/%s" % (g(prov, "instanceName", ""), g(prov, "certificateName", "")))
    if certs:
        res["cert"] = sorted(certs)
    validation, vctx = None, None
    cvc = g(ctx, "combinedValidationContext")
    if cvc:
        vctx = g(cvc, "defaultValidationContext") or {}
        validation = _file_norm(str(g(g(cvc, "validationContextSdsSecretConfig") or {}, "name") or "")) or None
    if g(ctx, "validationContextSdsSecretConfig"):
        validation = _file_norm(str(g(g(ctx, "validationContextSdsSecretConfig"), "name")))
    if g(ctx, "validationContext"):
        vctx = g(ctx, "validationContext")
        ca = g(vctx, "trustedCa")
        if ca:
            validation = _file_norm("file:" + str(g(ca, "filename"))) if g(ca, "filename") else "inline:bytes"
        cap = g(vctx, "caCertificateProviderInstance")
        if cap:
            validation = "provider:%s/%s" % (g(cap, "instanceName", ""), g(cap, "certificateName", ""))
    if validation:
        res["validation"] = validation
    if vctx:
        san = _san_matchers(vctx)
        if san:
            res["san"] = san
        for f in ("verifyCertificateSpki", "verifyCertificateHash"):
            if g(vctx, f):
                res[f] = sorted(g(vctx, f))
    tp = g(ctx, "tlsParams") or {}
    for f, short in (("tlsMinimumProtocolVersion", "min"), ("tlsMaximumProtocolVersion", "max")):
        v = g(tp, f)
        if v and v != "TLS_AUTO":
            res[short] = v
    if g(tp, "cipherSuites"):
        res["ciphers"] = list(g(tp, "cipherSuites"))
    if g(tp, "ecdhCurves"):
        res["ecdh"] = list(g(tp, "ecdhCurves"))
    if g(ctx, "alpnProtocols"):
        res["alpn"] = list(g(ctx, "alpnProtocols"))
    return res


def downstream_tls(ts):
    if not ts:
        return None
    tc = typed(ts)
    if type_name(tc) not in ("DownstreamTlsContext", ""):
        return {"socket": type_name(tc)}
    res = common_tls(g(tc, "commonTlsContext"))
    res["require_client_cert"] = bool(unwrap(g(tc, "requireClientCertificate", False)))
    return res


def upstream_tls(cluster):
    ts = g(cluster, "transportSocket")
    if not ts:
        return "auto" if g(cluster, "transportSocketMatches") else None
    tc = typed(ts)
    if type_name(tc) != "UpstreamTlsContext":
        return {"socket": type_name(tc) or g(ts, "name")}
    res = common_tls(g(tc, "commonTlsContext"))
    if g(tc, "sni"):
        res["sni"] = g(tc, "sni")
    return res

# ----------------------------------------------------------------------------- listeners


def _addr(l):
    sa = g(g(l, "address") or {}, "socketAddress") or {}
    return "%s:%s" % (g(sa, "address", ""), g(sa, "portValue", ""))


def _weighted(wc):
    items = []
    for c in g(wc, "clusters") or []:
        items.append((g(c, "name"), float(unwrap(g(c, "weight", 0)) or 0)))
    total = sum(w for _, w in items) or 1.0
    if len(items) == 1:
        return ("cluster", items[0][0])
    return ("weighted", sorted((n, round(w * 100.0 / total, 3)) for n, w in items))


# HTTP filters Istio always installs; they are only compared through "missing_http_filters", i.e. when
# a route needs them (per-route fault / CORS config without the filter in the chain does nothing).
OPTIONAL_HTTP_FILTERS = {"envoy.filters.http.grpc_stats", "envoy.filters.http.fault", "envoy.filters.http.cors"}
TERMINAL_NETWORK_FILTERS = {"envoy.filters.network.http_connection_manager", "envoy.filters.network.tcp_proxy"}


def chain_action(fc, listener_name, idx, inline_routes, extra):
    filters = [f for f in (g(fc, "filters") or []) if not is_istio_noise_filter(str(g(f, "name", "")))]
    others = [str(g(f, "name")) for f in filters if g(f, "name") not in TERMINAL_NETWORK_FILTERS
              and type_name(typed(f)) not in ("HttpConnectionManager", "TcpProxy")]
    if others:
        extra["network_filters"] = others
    for f in filters:
        tc = typed(f)
        tn = type_name(tc)
        name = g(f, "name", "")
        if tn == "HttpConnectionManager" or name == "envoy.filters.network.http_connection_manager":
            hf = [str(g(h, "name", "")) for h in (g(tc, "httpFilters") or [])]
            extra["http_filters"] = [h for h in hf if not is_istio_noise_filter(h) and h not in OPTIONAL_HTTP_FILTERS]
            extra["_has"] = set(hf)
            rds = g(tc, "rds")
            if rds:
                return ("rds", g(rds, "routeConfigName"))
            rc = g(tc, "routeConfig")
            if rc is not None:
                rname = "inline:%s#%d:%s" % (listener_name, idx, g(rc, "name", ""))
                inline_routes[rname] = rc
                return ("rds", rname)
            return ("hcm", "scoped-or-unknown")
        if tn == "TcpProxy" or name == "envoy.filters.network.tcp_proxy":
            if g(tc, "cluster"):
                return ("tcp", g(tc, "cluster"))
            a = _weighted(g(tc, "weightedClusters") or {})
            return ("tcp",) + a[1:] if a[0] == "cluster" else ("tcp_weighted", a[1])
    if filters:
        return ("filter", g(filters[-1], "name"))
    return ("none",)


def listener_summary(listeners):
    """-> (names {name: addr}, lfilters {name: [..]}, chains {(listener, key): value}, inline_routes)"""
    names, lfilters, chains, inline_routes = {}, {}, {}, {}
    for l in listeners:
        ln = g(l, "name")
        names[ln] = _addr(l)
        lfilters[ln] = sorted(str(g(f, "name")) for f in (g(l, "listenerFilters") or [])
                              if not is_istio_noise_filter(str(g(f, "name", ""))))
        fcs = list(g(l, "filterChains") or [])
        if g(l, "defaultFilterChain"):
            fcs.append(dict(g(l, "defaultFilterChain"), _default=True))
        for i, fc in enumerate(fcs):
            m = g(fc, "filterChainMatch") or {}
            if fc.get("_default"):
                key = ("<default>",)
            else:
                key = (tuple(sorted(g(m, "serverNames") or [])), tuple(sorted(g(m, "applicationProtocols") or [])))
            extra = {}
            val = {"action": chain_action(fc, ln, i, inline_routes, extra)}
            val.update(extra)
            tls = downstream_tls(g(fc, "transportSocket"))
            if tls is not None:
                val["tls"] = tls
            k = (ln, key)
            n = 2
            while k in chains:  # same match key twice: keep both, in order
                k = (ln, key + ("#%d" % n,))
                n += 1
            chains[k] = val
    return names, lfilters, chains, inline_routes

# ----------------------------------------------------------------------------- routes


def _string_matcher(m):
    m = m or {}
    ic = " (ignore_case)" if g(m, "ignoreCase") else ""
    for k in ("exact", "prefix", "suffix", "contains"):
        if g(m, k) is not None:
            return "%s:%s%s" % (k, g(m, k), ic)
    if g(m, "safeRegex"):
        return "regex:%s%s" % (g(g(m, "safeRegex"), "regex"), ic)
    return "matcher:" + json.dumps(m, sort_keys=True)


def _header_matcher(h):
    name = g(h, "name")
    if g(h, "stringMatch") is not None:
        v = _string_matcher(g(h, "stringMatch"))
    elif g(h, "exactMatch") is not None:
        v = "exact:%s" % g(h, "exactMatch")
    elif g(h, "prefixMatch") is not None:
        v = "prefix:%s" % g(h, "prefixMatch")
    elif g(h, "suffixMatch") is not None:
        v = "suffix:%s" % g(h, "suffixMatch")
    elif g(h, "containsMatch") is not None:
        v = "contains:%s" % g(h, "containsMatch")
    elif g(h, "safeRegexMatch") is not None:
        v = "regex:%s" % g(g(h, "safeRegexMatch"), "regex")
    elif g(h, "presentMatch") is not None:
        v = "present:%s" % bool(g(h, "presentMatch"))
    elif g(h, "rangeMatch") is not None:
        v = "range:%s" % json.dumps(g(h, "rangeMatch"), sort_keys=True)
    else:
        v = "present:True"
    if g(h, "invertMatch"):
        v = "!" + v
    return "%s=%s" % (name, v)


def route_match(m):
    m = m or {}
    if g(m, "prefix") is not None:
        p = ("prefix", g(m, "prefix") or "/")
    elif g(m, "path") is not None:
        p = ("path", g(m, "path"))
    elif g(m, "safeRegex") is not None:
        p = ("regex", g(g(m, "safeRegex"), "regex"))
    elif g(m, "pathSeparatedPrefix") is not None:
        p = ("path_separated_prefix", g(m, "pathSeparatedPrefix"))
    elif g(m, "pathMatchPolicy") is not None:
        p = ("path_match_policy", json.dumps(typed(g(m, "pathMatchPolicy")), sort_keys=True))
    else:
        p = ("prefix", "/")
    res = {"path": "%s:%s" % p}
    if unwrap(g(m, "caseSensitive", True)) is False:
        res["case_insensitive"] = True
    if g(m, "headers"):
        res["headers"] = sorted(_header_matcher(h) for h in g(m, "headers"))
    if g(m, "queryParameters"):
        qs = []
        for q in g(m, "queryParameters"):
            if g(q, "stringMatch") is not None:
                qs.append("%s=%s" % (g(q, "name"), _string_matcher(g(q, "stringMatch"))))
            else:
                qs.append("%s=present:%s" % (g(q, "name"), bool(g(q, "presentMatch", True))))
        res["query"] = sorted(qs)
    if g(m, "grpc") is not None:
        res["grpc"] = True
    return res


def _fault(tpfc):
    f = None
    for k, v in (tpfc or {}).items():
        if k == "envoy.filters.http.fault" or type_name(typed({"typedConfig": v})) == "HTTPFault":
            f = typed({"typedConfig": v})
    if f is None:
        return None
    res = {}
    d = g(f, "delay")
    if d:
        res["delay"] = {"fixed": g(d, "fixedDelay"), "pct": frac_percent(g(d, "percentage"))}
    a = g(f, "abort")
    if a:
        res["abort"] = {"http": g(a, "httpStatus"), "grpc": g(a, "grpcStatus"),
                        "pct": frac_percent(g(a, "percentage"))}
        res["abort"] = {k: v for k, v in res["abort"].items() if v is not None}
    return res or {"present": True}


def _csv(v):
    return sorted(x.strip() for x in str(v or "").split(",") if x.strip())


def _cors_summary(c):
    res = {"origins": sorted(_string_matcher(m) for m in (g(c, "allowOriginStringMatch") or []))}
    for f, k in (("allowMethods", "methods"), ("allowHeaders", "headers"), ("exposeHeaders", "expose")):
        if g(c, f):
            res[k] = _csv(g(c, f))
    if g(c, "maxAge"):
        res["max_age"] = str(g(c, "maxAge"))
    if unwrap(g(c, "allowCredentials")) is not None:
        res["credentials"] = bool(unwrap(g(c, "allowCredentials")))
    return res


def _cors(tpfc, legacy):
    for k, v in (tpfc or {}).items():
        tc = typed({"typedConfig": v})
        if k == "envoy.filters.http.cors" or type_name(tc) == "CorsPolicy":
            return _cors_summary(tc)
    if legacy:
        return _cors_summary(legacy)
    return None


def route_action(r):
    res = {}
    ra = g(r, "route")
    if ra is not None:
        if g(ra, "cluster"):
            res["to"] = ("cluster", g(ra, "cluster"))
        elif g(ra, "weightedClusters"):
            res["to"] = _weighted(g(ra, "weightedClusters"))
        elif g(ra, "clusterHeader"):
            res["to"] = ("cluster_header", g(ra, "clusterHeader"))
        else:
            res["to"] = ("route", "?")
        rw = {}
        for f in ("prefixRewrite", "hostRewriteLiteral", "hostRewriteHeader", "autoHostRewrite"):
            if g(ra, f) not in (None, "", False):
                rw[f] = unwrap(g(ra, f))
        if g(ra, "regexRewrite"):
            rw["regexRewrite"] = [g(g(g(ra, "regexRewrite"), "pattern") or {}, "regex"),
                                  g(g(ra, "regexRewrite"), "substitution")]
        if rw:
            res["rewrite"] = rw
        mirrors = [g(mp, "cluster") for mp in (g(ra, "requestMirrorPolicies") or [])]
        if mirrors:
            res["mirror"] = sorted(mirrors)
        legacy_cors = g(ra, "cors")
    elif g(r, "redirect") is not None:
        rd = g(r, "redirect")
        res["to"] = ("redirect", {
            "https": bool(g(rd, "httpsRedirect", False)) or g(rd, "schemeRedirect") == "https",
            "host": g(rd, "hostRedirect"), "port": g(rd, "portRedirect"), "path": g(rd, "pathRedirect"),
            "prefix": g(rd, "prefixRewrite"), "code": g(rd, "responseCode", "MOVED_PERMANENTLY")})
        legacy_cors = None
    elif g(r, "directResponse") is not None:
        dr = g(r, "directResponse")
        body = g(g(dr, "body") or {}, "inlineString")
        res["to"] = ("direct_response", g(dr, "status"), body)
        legacy_cors = None
    else:
        res["to"] = ("none",)
        legacy_cors = None
    tpfc = g(r, "typedPerFilterConfig") or {}
    f = _fault(tpfc)
    if f:
        res["fault"] = f
    c = _cors(tpfc, legacy_cors)
    if c:
        res["cors"] = c
    return res


def vhost_summary(vh):
    res = {"name": g(vh, "name"), "require_tls": g(vh, "requireTls", "NONE") or "NONE",
           "routes": [dict(match=route_match(g(r, "match")), **route_action(r)) for r in (g(vh, "routes") or [])]}
    c = _cors(g(vh, "typedPerFilterConfig") or {}, g(vh, "cors"))
    if c:
        res["cors"] = c
    return res


def routes_summary(routes, inline_routes):
    """-> {route config name: {domain-set key: vhost summary}}"""
    out = {}
    all_rcs = [(g(rc, "name"), rc) for rc in routes] + list(inline_routes.items())
    for name, rc in all_rcs:
        vhs = {}
        for vh in g(rc, "virtualHosts") or []:
            key = tuple(sorted(g(vh, "domains") or []))
            k, n = key, 2
            while k in vhs:
                k = key + ("#%d" % n,)
                n += 1
            vhs[k] = vhost_summary(vh)
        out[name] = vhs
    return out

# ----------------------------------------------------------------------------- clusters / endpoints


def clusters_index(clusters):
    return {g(c, "name"): c for c in clusters}


def cluster_type(c):
    if g(c, "clusterType"):
        return "custom:" + str(g(g(c, "clusterType"), "name"))
    return g(c, "type", "STATIC") or "STATIC"


def _lb_addrs(cla):
    out = set()
    for le in g(cla, "endpoints") or []:
        for lb in g(le, "lbEndpoints") or []:
            ep = g(lb, "endpoint") or {}
            addr = g(ep, "address") or {}
            sa = g(addr, "socketAddress")
            if sa:
                out.add("%s:%s" % (g(sa, "address"), g(sa, "portValue", g(sa, "namedPort", ""))))
            elif g(addr, "envoyInternalAddress"):
                ia = g(addr, "envoyInternalAddress")
                out.add("internal:%s/%s" % (g(ia, "serverListenerName"), g(ia, "endpointId", "")))
            elif g(addr, "pipe"):
                out.add("pipe:%s" % g(g(addr, "pipe"), "path"))
            elif g(lb, "endpointName"):
                out.add("named:%s" % g(lb, "endpointName"))
    return sorted(out)


def endpoints_for(c, cla_index):
    if c is None:
        return "<no such cluster>"
    if cluster_type(c) == "EDS":
        svc = g(g(c, "edsClusterConfig") or {}, "serviceName") or g(c, "name")
        cla = cla_index.get(svc)
        return _lb_addrs(cla) if cla is not None else "<no ClusterLoadAssignment>"
    la = g(c, "loadAssignment")
    return _lb_addrs(la) if la is not None else []


def referenced_clusters(chains, rsum):
    refs = set()
    for v in chains.values():
        a = v["action"]
        if a[0] == "tcp":
            refs.add(a[1])
        elif a[0] == "tcp_weighted":
            refs.update(n for n, _ in a[1])
    for vhs in rsum.values():
        for vh in vhs.values():
            for r in vh["routes"]:
                to = r["to"]
                if to[0] == "cluster":
                    refs.add(to[1])
                elif to[0] == "weighted":
                    refs.update(n for n, _ in to[1])
                refs.update(r.get("mirror", []))
    return refs - NOISE_CLUSTERS


def summarize(bundle):
    names, lfilters, chains, inline_routes = listener_summary(bundle["listeners"])
    rsum = routes_summary(bundle["routes"], inline_routes)
    referenced_rcs = {v["action"][1] for v in chains.values() if v["action"][0] == "rds"}
    cidx = clusters_index(bundle["clusters"])
    cla_index = {g(e, "clusterName"): e for e in bundle["endpoints"]}
    refs = referenced_clusters(chains, {k: v for k, v in rsum.items() if k in referenced_rcs})
    for v in chains.values():
        has = v.pop("_has", None)
        if has is None or v["action"][0] != "rds":
            continue
        vhs = (rsum.get(v["action"][1]) or {}).values()
        need = set()
        for vh in vhs:
            if vh.get("cors"):
                need.add("envoy.filters.http.cors")
            for r in vh["routes"]:
                if r.get("fault"):
                    need.add("envoy.filters.http.fault")
                if r.get("cors"):
                    need.add("envoy.filters.http.cors")
        missing = sorted(need - has)
        if missing:
            v["missing_http_filters"] = missing
    return {"listeners": names, "listener_filters": lfilters, "chains": chains, "routes": rsum,
            "referenced_routes": referenced_rcs, "clusters": cidx, "cla": cla_index, "refs": refs,
            "secrets": {g(s, "name"): s for s in bundle.get("secrets") or []}}


def cluster_summary(c):
    if c is None:
        return "<missing>"
    res = {"type": cluster_type(c)}
    t = upstream_tls(c)
    if t is not None:
        res["tls"] = t
    return res


def sds_refs(bundle):
    names = set()

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k in ("tlsCertificateSdsSecretConfigs", "tls_certificate_sds_secret_configs"):
                    names.update(g(x, "name") for x in v or [])
                elif k in ("validationContextSdsSecretConfig", "validation_context_sds_secret_config"):
                    names.add(g(v, "name"))
                else:
                    walk(v)
        elif isinstance(o, list):
            for x in o:
                walk(x)
    walk(bundle["listeners"])
    walk(bundle["clusters"])
    return {n for n in names if n}

# ----------------------------------------------------------------------------- comparison


def _fmt(v, limit=220):
    s = json.dumps(v, sort_keys=True, default=list, separators=(",", ":")) if not isinstance(v, str) else v
    return s if len(s) <= limit else s[:limit - 3] + "..."


def _keyfmt(k):
    if isinstance(k, tuple):
        return "(" + " ".join(_fmt(list(x) if isinstance(x, tuple) else x, 120) for x in k) + ")"
    return str(k)


def _leaf_diffs(a, b, path=""):
    """Differences between two normalized values, as 'path: istio=.. meshgate=..' strings."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _leaf_diffs(a.get(k, "<absent>"), b.get(k, "<absent>"), "%s.%s" % (path, k) if path else k)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and a and \
            all(isinstance(x, dict) for x in a + b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += _leaf_diffs(x, y, "%s[%d]" % (path, i))
        return out
    if a == b:
        return []
    if isinstance(a, list) and isinstance(b, list) and len(a) != len(b) and all(isinstance(x, dict) for x in a + b):
        out = ["%s: istio has %d entries, meshgate %d" % (path, len(a), len(b))]
        for i, (x, y) in enumerate(zip(a, b)):
            out += _leaf_diffs(x, y, "%s[%d]" % (path, i))
        longer, side = (a, "istio") if len(a) > len(b) else (b, "meshgate")
        for i in range(min(len(a), len(b)), len(longer)):
            out.append("%s[%d] only in %s: %s" % (path, i, side, _fmt(longer[i], 160)))
        return out
    return ["%s: istio=%s meshgate=%s" % (path or "value", _fmt(a, 160), _fmt(b, 160))]


def compare_maps(a, b, what):
    """-> (agree, total, [diff strings])"""
    keys = sorted(set(a) | set(b), key=lambda k: json.dumps(k, default=list))
    agree, diffs = 0, []
    for k in keys:
        if k not in b:
            diffs.append("%s %s only in istio" % (what, _keyfmt(k)))
        elif k not in a:
            diffs.append("%s %s only in meshgate" % (what, _keyfmt(k)))
        elif a[k] != b[k]:
            diffs.append("%s %s: %s" % (what, _keyfmt(k), "; ".join(_leaf_diffs(a[k], b[k])[:4])))
        else:
            agree += 1
    return agree, len(keys), diffs


def _normalize_json(v):
    return json.loads(json.dumps(v, default=list))


def compare(istio, mesh, verbose=False, out=sys.stdout):
    A, B = summarize(istio), summarize(mesh)
    results = []

    # (a) listeners
    results.append(("listeners",) + compare_maps(A["listeners"], B["listeners"], "listener"))

    # (b) filter chains (+ listener filters)
    def chain_maps(S):
        m = {"%s listener_filters" % ln: v for ln, v in S["listener_filters"].items()}
        for (ln, key), v in S["chains"].items():
            if key[0] == "<default>":
                d = "%s default_filter_chain" % ln
            else:
                d = "%s sni=%s alpn=%s%s" % (ln, list(key[0]), list(key[1]), "".join(" " + x for x in key[2:]))
            m[d] = v
        return _normalize_json(m)
    results.append(("filter_chains",) + compare_maps(chain_maps(A), chain_maps(B), "chain"))

    # (c) routes: referenced route configs, unit = virtual host
    rcs = sorted(A["referenced_routes"] | B["referenced_routes"])
    ra, rb = {}, {}
    for name in rcs:
        for side, S, dst in (("istio", A, ra), ("meshgate", B, rb)):
            if name not in S["routes"]:
                continue
            vhs = S["routes"][name]
            if not vhs:
                dst["%s <no virtual hosts>" % name] = {}
            for k, v in vhs.items():
                v = dict(v)
                v.pop("name", None)  # virtual host names are not compared, domains are the key
                dst["%s domains=%s" % (name, list(k))] = _normalize_json(v)
    # a route config referenced on both sides but missing from one side's RDS
    missing = []
    for name in rcs:
        for side, S in (("istio", A), ("meshgate", B)):
            if name in S["referenced_routes"] and name not in S["routes"]:
                missing.append("route config %s referenced but not served by %s" % (name, side))
    agree, total, diffs = compare_maps(ra, rb, "vhost")
    results.append(("routes", agree, total, missing + diffs))

    # (d) clusters referenced by (b)/(c)
    refs = sorted(A["refs"] | B["refs"])
    ka = {r: _normalize_json(cluster_summary(A["clusters"].get(r))) for r in refs}
    kb = {r: _normalize_json(cluster_summary(B["clusters"].get(r))) for r in refs}
    results.append(("clusters",) + compare_maps(ka, kb, "cluster"))

    # (e) endpoints of those clusters
    ea = {r: endpoints_for(A["clusters"].get(r), A["cla"]) for r in refs}
    eb = {r: endpoints_for(B["clusters"].get(r), B["cla"]) for r in refs}
    results.append(("endpoints",) + compare_maps(ea, eb, "endpoints of"))

    N = M = 0
    for name, agree, total, diffs in results:
        N += agree
        M += total
        if not diffs:
            print("%s: OK (%d)" % (name, total), file=out)
        else:
            shown = " | ".join(diffs[:3]) + (" | (+%d more)" % (len(diffs) - 3) if len(diffs) > 3 else "")
            print("%s: DIFF %d/%d differ: %s" % (name, total - agree if total else len(diffs), total, shown), file=out)
            if verbose:
                for d in diffs:
                    print("    " + d, file=out)

    # secrets: informational
    refs_sds = sds_refs(mesh)
    if not mesh.get("secrets"):
        print("secrets (info, not scored): meshgate bundle has no secrets; %d SDS names referenced" % len(refs_sds),
              file=out)
    else:
        miss = sorted(n for n in refs_sds if n not in B["secrets"])
        print("secrets (info, not scored): %d referenced, %s" %
              (len(refs_sds), ("missing: " + ", ".join(miss)) if miss else "all present"), file=out)
    print("agreement %d/%d" % (N, M), file=out)
    return N, M

# ----------------------------------------------------------------------------- --from-istio / --dump


def from_istio(d):
    b = load_bundle(d)
    b["secrets"] = []
    return b


def dump(path):
    S = summarize(load_bundle(path))
    print("== listeners")
    for n, a in sorted(S["listeners"].items()):
        print("  %s %s listener_filters=%s" % (n, a, S["listener_filters"][n]))
    print("== filter chains")
    for k, v in sorted(S["chains"].items(), key=lambda kv: json.dumps(kv[0], default=list)):
        print("  %s %s -> %s" % (k[0], _keyfmt(k[1]), _fmt(v, 1000)))
    print("== routes (referenced)")
    for name in sorted(S["referenced_routes"]):
        print("  route_config %s" % name)
        for k, vh in (S["routes"].get(name) or {}).items():
            print("    vhost %s require_tls=%s%s" % (list(k), vh["require_tls"],
                                                     (" cors=" + _fmt(vh["cors"])) if vh.get("cors") else ""))
            for r in vh["routes"]:
                print("      " + _fmt(r, 1000))
    print("== clusters (referenced) / endpoints")
    for r in sorted(S["refs"]):
        c = S["clusters"].get(r)
        print("  %s %s endpoints=%s" % (r, _fmt(cluster_summary(c), 1000), endpoints_for(c, S["cla"])))

# ----------------------------------------------------------------------------- self-test


def _perturbations(bundle):
    """Yield (description, perturbed bundle, aspect expected to DIFF)."""
    def first(pred, items):
        for i, x in enumerate(items):
            if pred(x):
                return i
        return None

    L = bundle["listeners"]
    if L:
        b = copy.deepcopy(bundle); b["listeners"].pop(0)
        yield "drop listener %s" % g(L[0], "name"), b, "listeners"
    i = first(lambda l: any(g(g(fc, "filterChainMatch") or {}, "serverNames") for fc in g(l, "filterChains") or []), L)
    if i is not None:
        b = copy.deepcopy(bundle)
        for fc in b["listeners"][i]["filterChains"]:
            if g(g(fc, "filterChainMatch") or {}, "serverNames"):
                fc["filterChainMatch"]["serverNames"] = ["perturbed.example"]
                break
        yield "rename server_names", b, "filter_chains"
    i = first(lambda l: any(g(fc, "transportSocket") for fc in g(l, "filterChains") or []), L)
    if i is not None:
        b = copy.deepcopy(bundle)
        for fc in b["listeners"][i]["filterChains"]:
            if g(fc, "transportSocket"):
                ctx = fc["transportSocket"]["typedConfig"]
                ctx["requireClientCertificate"] = not bool(ctx.get("requireClientCertificate"))
                sds = ctx.get("commonTlsContext", {}).get("tlsCertificateSdsSecretConfigs")
                if sds:
                    sds[0]["name"] = "kubernetes://perturbed"
                break
        yield "flip require_client_certificate / SDS name", b, "filter_chains"
    # HCM rds name or tcp cluster
    b = copy.deepcopy(bundle)
    done = False
    for l in b["listeners"]:
        for fc in g(l, "filterChains") or []:
            for f in fc.get("filters", []):
                tc = f.get("typedConfig", {})
                if "rds" in tc:
                    tc["rds"]["routeConfigName"] += ".perturbed"; done = True
                elif type_name(tc) == "TcpProxy" and "cluster" in tc:
                    tc["cluster"] += ".perturbed"; done = True
                if done:
                    break
            if done:
                break
        if done:
            break
    if done:
        yield "change chain action", b, "filter_chains"
    R = bundle["routes"]
    if R and any(g(vh, "routes") for rc in R for vh in g(rc, "virtualHosts") or []):
        b = copy.deepcopy(bundle)
        for rc in b["routes"]:
            for vh in rc.get("virtualHosts", []):
                if vh.get("routes"):
                    vh["routes"] = list(reversed(vh["routes"])) if len(vh["routes"]) > 1 else []
                    break
            else:
                continue
            break
        yield "reorder/drop routes", b, "routes"
        b = copy.deepcopy(bundle)
        b["routes"][0]["virtualHosts"][0]["requireTls"] = "EXTERNAL_ONLY"
        yield "change require_tls", b, "routes"
        b = copy.deepcopy(bundle)
        for rc in b["routes"]:
            for vh in rc.get("virtualHosts", []):
                vh["domains"] = list(vh.get("domains", [])) + ["extra.perturbed"]
        yield "add a domain", b, "routes"
    # weighted clusters
    b = copy.deepcopy(bundle)
    hit = False
    for rc in b["routes"]:
        for vh in rc.get("virtualHosts", []):
            for r in vh.get("routes", []):
                wc = r.get("route", {}).get("weightedClusters")
                if wc and len(wc.get("clusters", [])) > 1:
                    wc["clusters"][0]["weight"] = wc["clusters"][0].get("weight", 0) + 7
                    hit = True
    if hit:
        yield "change a weight", b, "routes"
    b = copy.deepcopy(bundle)
    hit = False
    for rc in b["routes"]:
        for vh in rc.get("virtualHosts", []):
            for r in vh.get("routes", []):
                if r.get("typedPerFilterConfig"):
                    r["typedPerFilterConfig"] = {}
                    hit = True
    if hit:
        yield "drop fault/cors", b, "routes"
    # HTTP filters: dropping fault/cors matters only where a route uses them; grpc_web always matters
    S0 = summarize(bundle)
    uses = set()
    for vhs in S0["routes"].values():
        for vh in vhs.values():
            for r in vh["routes"]:
                uses.update(k for k in ("fault", "cors") if r.get(k))
    for fname in ("envoy.filters.http.fault", "envoy.filters.http.cors", "envoy.filters.http.grpc_web"):
        b = copy.deepcopy(bundle)
        hit = False
        for l in b["listeners"]:
            for fc in l.get("filterChains", []):
                for f in fc.get("filters", []):
                    tc = f.get("typedConfig", {})
                    if any(h.get("name") == fname for h in tc.get("httpFilters", [])):
                        tc["httpFilters"] = [h for h in tc["httpFilters"] if h.get("name") != fname]
                        hit = True
        if hit:
            short = fname.rsplit(".", 1)[-1]
            yield "drop HTTP filter %s" % short, b, ("filter_chains" if short in uses or short == "grpc_web" else None)
    # endpoints / cluster type
    refs = S0["refs"]
    b = copy.deepcopy(bundle)
    hit = False
    for e in b["endpoints"]:
        if e.get("clusterName") in refs and e.get("endpoints"):
            lbs = e["endpoints"][0].get("lbEndpoints", [])
            if lbs:
                lbs[0]["endpoint"]["address"]["socketAddress"]["portValue"] = 1
                hit = True
                break
    if not hit:
        for c in b["clusters"]:
            if c.get("name") in refs and c.get("loadAssignment", {}).get("endpoints"):
                c["loadAssignment"]["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"]["portValue"] = 1
                hit = True
                break
    if hit:
        yield "change an endpoint port", b, "endpoints"
    b = copy.deepcopy(bundle)
    hit = False
    for c in b["clusters"]:
        if c.get("name") in refs:
            c["type"] = "LOGICAL_DNS" if c.get("type") != "LOGICAL_DNS" else "STATIC"
            hit = True
            break
    if hit:
        yield "change a cluster type", b, "clusters"
    # noise must NOT produce a diff
    b = copy.deepcopy(bundle)
    for l in b["listeners"]:
        for fc in l.get("filterChains", []):
            for f in fc.get("filters", []):
                tc = f.get("typedConfig", {})
                if "statPrefix" in tc:
                    tc["statPrefix"] = "noise"
                if "httpFilters" in tc:
                    tc["httpFilters"] = [h for h in tc["httpFilters"] if not h.get("name", "").startswith("istio.")
                                         and h.get("name") != "envoy.filters.http.grpc_stats"]
    for c in b["clusters"]:
        c.pop("metadata", None)
        c.pop("transportSocketMatches", None) if c.get("transportSocket") else None
    b["clusters"] = [c for c in b["clusters"] if c.get("name") not in NOISE_CLUSTERS]
    for rc in b["routes"]:
        for vh in rc.get("virtualHosts", []):
            vh["name"] = "renamed"
            for r in vh.get("routes", []):
                r.pop("decorator", None); r.pop("metadata", None)
                if "route" in r:
                    r["route"].pop("retryPolicy", None); r["route"]["timeout"] = "15s"
    b["listeners"] = list(reversed(b["listeners"]))
    yield "noise only (stat prefixes, istio filters, metadata, vhost names, order)", b, None


def self_test(cases_dir):
    import io
    fails = 0
    ncases = 0
    for case in sorted(os.listdir(cases_dir)):
        idir = os.path.join(cases_dir, case, "istio")
        if not os.path.isdir(idir):
            continue
        for proxy in sorted(os.listdir(idir)):
            pdir = os.path.join(idir, proxy)
            if not os.path.exists(os.path.join(pdir, "listeners.json")):
                continue
            ncases += 1
            istio = load_bundle(pdir)
            mesh = json.loads(json.dumps(from_istio(pdir)))
            buf = io.StringIO()
            n, m = compare(istio, mesh, out=buf)
            ok = n == m and "DIFF" not in buf.getvalue()
            print("%-40s round-trip %s (%d/%d)" % (case + "/" + proxy, "ok" if ok else "FAIL", n, m))
            fails += not ok
            for desc, pb, aspect in _perturbations(mesh):
                buf = io.StringIO()
                n2, m2 = compare(istio, pb, out=buf)
                lines = dict(l.split(":", 1) for l in buf.getvalue().splitlines() if ":" in l and not l.startswith("agreement"))
                if aspect is None:
                    good = n2 == m2
                else:
                    good = "DIFF" in lines.get(aspect, "") and n2 < m2
                if not good:
                    fails += 1
                    print("   FAIL perturbation %r (expected %s):\n%s" % (desc, aspect or "no diff",
                                                                         "\n".join("      " + x for x in buf.getvalue().splitlines())))
                else:
                    print("   ok   %-60s -> %s" % (desc, ("%s DIFF" % aspect) if aspect else "no diff"))
    print("self-test: %d proxy outputs, %d failures" % (ncases, fails))
    return fails

# ----------------------------------------------------------------------------- main


def main(argv):
    args = list(argv)
    verbose = False
    if "-v" in args:
        args.remove("-v")
        verbose = True
    if args and args[0] == "--from-istio":
        if len(args) < 2:
            raise SystemExit(__doc__)
        b = from_istio(args[1])
        s = json.dumps(b, indent=1)
        if len(args) >= 4 and args[2] == "-o":
            with open(args[3], "w") as f:
                f.write(s + "\n")
        else:
            print(s)
        return 0
    if args and args[0] == "--dump":
        dump(args[1])
        return 0
    if args and args[0] == "--self-test":
        self_test(args[1] if len(args) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                              "..", "bars", "cases"))
        return 0
    if len(args) != 2:
        print(__doc__)
        return 0
    try:
        compare(load_bundle(args[0]), load_bundle(args[1]), verbose=verbose)
    except SystemExit as e:
        print("ERROR: %s" % e)
        print("agreement 0/0")
    except Exception as e:  # never fail the caller: report and exit 0
        print("ERROR: %s: %s" % (type(e).__name__, e))
        print("agreement 0/0")
    return 0


if __name__ == "__main__":
    try:
        import signal
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    except (AttributeError, ValueError):
        pass
    try:
        main(sys.argv[1:])
    except SystemExit as e:  # usage / unreadable input: report, still exit 0
        if e.code not in (None, 0):
            print(e.code if isinstance(e.code, str) else "ERROR: exit %s" % e.code)
    except Exception as e:  # noqa: BLE001 - the contract is "exit 0 always"
        print("ERROR: %s: %s" % (type(e).__name__, e))
    sys.exit(0)
