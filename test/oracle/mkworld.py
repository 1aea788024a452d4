#!/usr/bin/env python3
"""Writes the Kubernetes "world" of every golden case: k8s.yaml, gateway-svc.yaml, proxies.yaml.

Usage: mkworld.py [CASES_DIR]      (default: xds/translate/testdata/cases next to this repo's root)

The world is small and the same for every case: the services the seed articles use (httpbin in
default, bookinfo productpage / tcp-echo / mongodb / mysqldb / redis / web-grpc / my-nginx in
namespace istio, reviews in prod and qa, ...), each with Pods (podIP, Running, app/version labels,
security.istio.io/tlsMode: istio, serviceAccountName) and an EndpointSlice whose targetRef points at
the Pods. The gateways (istio-ingressgateway, istio-egressgateway, istio-eastwestgateway and the
two custom-selector gateways of seed 001) are a Service + Pod + EndpointSlice in istio-system.

Which apps, secrets and gateway (plus extra gateway Service ports) a case gets is listed in
CASES_DIR/_world/manifest.txt, one line per case:

    <case-dir> | gw=<gateway>[+name:port[:targetPort][/UDP]...] | apps=a,b | secrets=s1,s2 [| locality=r/z/s]

locality is the gateway proxy's locality (istiod derives it from the gateway pod's Node).

The rendered building blocks are also written to CASES_DIR/_world/{apps,gateways,secrets}/ so a
reader can see the whole world. Every case directory is self-contained afterwards: the oracle and
the Go golden test read one directory. Case directories not in the manifest (the copied oracle
examples) are left alone. config.yaml / rejected.yaml are never touched (they are hand-written).
"""
import os
import re
import sys

# ----------------------------------------------------------------------------- the world

# name -> namespace, service ports [(name|None, port, targetPort, protocol)], selector, extra service
# labels, pods [(pod name, ip, extra pod labels)], serviceAccount, clusterIP
APPS = {
    "httpbin": dict(ns="default", ports=[("http", 8000, 8080, "TCP")], sel={"app": "httpbin"},
                    pods=[("httpbin-v1-abc", "10.244.0.10", {"version": "v1"})], sa="httpbin", ip="10.96.0.10"),
    "httpbin-a": dict(ns="default", ports=[("http", 8000, 8080, "TCP")], sel={"app": "httpbin-a"},
                      pods=[("httpbin-a-v1-abc", "10.244.0.11", {"version": "v1"})], sa="httpbin", ip="10.96.0.11"),
    "httpbin-b": dict(ns="default", ports=[("http", 8000, 8080, "TCP")], sel={"app": "httpbin-b"},
                      pods=[("httpbin-b-v1-abc", "10.244.0.12", {"version": "v1"})], sa="httpbin", ip="10.96.0.12"),
    "service-a": dict(ns="default", ports=[("http", 8000, 8000, "TCP")], sel={"app": "service-a"},
                      pods=[("service-a-v1-abc", "10.244.0.21", {"version": "v1"})], sa="service-a", ip="10.96.0.21"),
    "service-b": dict(ns="default", ports=[("http", 9000, 9000, "TCP")], sel={"app": "service-b"},
                      pods=[("service-b-v1-abc", "10.244.0.22", {"version": "v1"})], sa="service-b", ip="10.96.0.22"),
    "service-c": dict(ns="default", ports=[("http", 9000, 9000, "TCP")], sel={"app": "service-c"},
                      pods=[("service-c-v1-abc", "10.244.0.23", {"version": "v1"})], sa="service-c", ip="10.96.0.23"),
    # bookinfo and the protocol demos of seed 003 live in namespace istio
    "productpage": dict(ns="istio", ports=[("http", 9080, 9080, "TCP")], sel={"app": "productpage"},
                        labels={"service": "productpage"},
                        pods=[("productpage-v1-abc", "10.244.2.1", {"version": "v1"})], sa="bookinfo-productpage",
                        ip="10.96.2.1"),
    # samples/tcp-echo/tcp-echo-services.yaml: ports tcp 9000 and tcp-other 9001, versions v1 and v2
    "tcp-echo": dict(ns="istio", ports=[("tcp", 9000, 9000, "TCP"), ("tcp-other", 9001, 9001, "TCP")],
                     sel={"app": "tcp-echo"}, labels={"service": "tcp-echo"},
                     pods=[("tcp-echo-v1-abc", "10.244.2.2", {"version": "v1"}),
                           ("tcp-echo-v2-def", "10.244.2.3", {"version": "v2"})], sa="default", ip="10.96.2.2"),
    # seed 003 §5-8 bookinfo-db.yaml: port 27017 name mongo
    "mongodb": dict(ns="istio", ports=[("mongo", 27017, 27017, "TCP")], sel={"app": "mongodb"},
                    labels={"service": "mongodb"},
                    pods=[("mongodb-v1-abc", "10.244.2.4", {"version": "v1"})], sa="default", ip="10.96.2.4"),
    # seed 003 §5-10 bookinfo-mysql.yaml: port 3306 name tcp
    "mysqldb": dict(ns="istio", ports=[("tcp", 3306, 3306, "TCP")], sel={"app": "mysqldb"},
                    labels={"service": "mysqldb"},
                    pods=[("mysqldb-v1-abc", "10.244.2.5", {"version": "v1"})], sa="default", ip="10.96.2.5"),
    # seed 003 §5-11 redis-deploy.yaml: unnamed port 6379, selector app: bcia, ms-name: redis
    "redis": dict(ns="istio", ports=[(None, 6379, 6379, "TCP")], sel={"app": "bcia", "ms-name": "redis"},
                  nolabels=True,
                  pods=[("bcia-redis-abc", "10.244.2.6", {})], sa="default", ip="10.96.2.6"),
    # seed 003 §5-12 web-grpc-deploy.yaml
    "web-grpc": dict(ns="istio", ports=[("grpc-web-grpc", 50051, 50051, "TCP")], sel={"app": "web-grpc"},
                     nolabels=True,
                     pods=[("web-grpc-abc", "10.244.2.7", {"version": "v1"})], sa="default", ip="10.96.2.7"),
    "web-grpc-client": dict(ns="istio", ports=[("http-web-grpc-client", 8080, 8080, "TCP")],
                            sel={"app": "web-grpc-client"}, nolabels=True,
                            pods=[("web-grpc-client-abc", "10.244.2.8", {"version": "v1"})], sa="default",
                            ip="10.96.2.8"),
    # seed 003 §5-8 deploy-statsd-influxdb-grafana.yaml
    "statsd-influxdb-grafana-svc": dict(
        ns="istio", ports=[("http-grafana", 3003, 3003, "TCP"), ("http-influxdb-admin", 3004, 8888, "TCP"),
                           ("tcp-influxdb", 8086, 8086, "TCP"), ("udp-statsd", 8125, 8125, "UDP")],
        sel={"app": "statsd-influxdb-grafana"}, nolabels=True,
        pods=[("statsd-influxdb-grafana-abc", "10.244.2.9", {})], sa="default", ip="10.96.2.9"),
    # seed 003 §5-14 nginx-deploy.yaml: unnamed port 443, labels run: my-nginx
    "my-nginx": dict(ns="istio", ports=[(None, 443, 443, "TCP")], sel={"run": "my-nginx"},
                     labels={"run": "my-nginx"}, nolabels=True,
                     pods=[("my-nginx-abc", "10.244.2.10", {})], sa="default", ip="10.96.2.10"),
    # seed 003 §6: samples/httpbin/httpbin.yaml in namespace httpbin
    "httpbin-ns-httpbin": dict(name="httpbin", ns="httpbin", ports=[("http", 8000, 8080, "TCP")],
                               sel={"app": "httpbin"},
                               pods=[("httpbin-v1-abc", "10.244.3.1", {"version": "v1"})], sa="httpbin",
                               ip="10.96.3.1"),
    # seed 001 §1: reviews in prod (9080) and qa (7777), mongo in prod (5555)
    "reviews-prod": dict(name="reviews", ns="prod", ports=[("http", 9080, 9080, "TCP")], sel={"app": "reviews"},
                         pods=[("reviews-v1-abc", "10.244.4.1", {"version": "v1"})], sa="bookinfo-reviews",
                         ip="10.96.4.1"),
    "mongo-prod": dict(name="mongo", ns="prod", ports=[("mongo", 5555, 5555, "TCP")], sel={"app": "mongo"},
                       pods=[("mongo-v1-abc", "10.244.4.2", {"version": "v1"})], sa="default", ip="10.96.4.2"),
    "reviews-qa": dict(name="reviews", ns="qa", ports=[("http", 7777, 9080, "TCP")], sel={"app": "reviews"},
                       pods=[("reviews-v2-abc", "10.244.5.1", {"version": "v2"})], sa="bookinfo-reviews",
                       ip="10.96.5.1"),
}

DUMMY = "Zm9v"  # "foo": the oracle only needs the secret's shape, never real key material

# name -> (secret name, type, keys)
SECRETS = {
    "httpbin-credential": ("httpbin-credential", "kubernetes.io/tls", ["tls.crt", "tls.key"]),
    "bookinfo-secret": ("bookinfo-secret", "kubernetes.io/tls", ["tls.crt", "tls.key"]),
    # kubectl create secret generic bookinfo-credential --from-file=tls.key --from-file=tls.crt [--from-file=ca.crt]
    "bookinfo-credential": ("bookinfo-credential", "Opaque", ["tls.crt", "tls.key"]),
    "bookinfo-credential-with-ca": ("bookinfo-credential", "Opaque", ["tls.crt", "tls.key", "ca.crt"]),
    # seed 001 §3.2 (secret tls) and §4.2 (secret generic with ca.crt)
    "localserver-credential": ("localserver-credential", "kubernetes.io/tls", ["tls.crt", "tls.key"]),
    "localserver-credential-with-ca": ("localserver-credential", "Opaque", ["tls.crt", "tls.key", "ca.crt"]),
    "httpbin-cred": ("httpbin-cred", "kubernetes.io/tls", ["tls.crt", "tls.key"]),
    # seed 002: kubectl create -n istio-system secret tls istio-ingress-certs
    "istio-ingress-certs": ("istio-ingress-certs", "kubernetes.io/tls", ["tls.crt", "tls.key"]),
    # Istio docs "Egress Gateways with TLS Origination" (mutual TLS origination): client-credential with ca.crt
    "client-credential": ("client-credential", "Opaque", ["tls.crt", "tls.key", "ca.crt"]),
}

BASE_PORTS = [("status-port", 15021, 15021, "TCP"), ("http2", 80, 8080, "TCP"), ("https", 443, 8443, "TCP")]

# gateway -> service name, labels (Service, Pod, proxy), clusterIP, pod name, pod IP, proxy name, ports
GATEWAYS = {
    "ingress": dict(svc="istio-ingressgateway", labels={"istio": "ingressgateway", "app": "istio-ingressgateway"},
                    ip="10.96.0.100", pod="istio-ingressgateway-xyz", podip="10.244.0.2", proxy="ingressgateway",
                    ports=BASE_PORTS),
    "egress": dict(svc="istio-egressgateway", labels={"istio": "egressgateway", "app": "istio-egressgateway"},
                   ip="10.96.0.101", pod="istio-egressgateway-xyz", podip="10.244.0.4", proxy="egressgateway",
                   ports=BASE_PORTS),
    "eastwest": dict(svc="istio-eastwestgateway",
                     labels={"istio": "eastwestgateway", "app": "istio-eastwestgateway",
                             "topology.istio.io/network": "network1"},
                     ip="10.96.0.200", pod="istio-eastwestgateway-xyz", podip="10.244.0.3", proxy="eastwestgateway",
                     ports=[("status-port", 15021, 15021, "TCP"), ("tls", 15443, 15443, "TCP"),
                            ("tls-istiod", 15012, 15012, "TCP"), ("tls-webhook", 15017, 15017, "TCP")],
                     metadata={"NETWORK": "network1", "ROUTER_MODE": "sni-dnat", "REQUESTED_NETWORK_VIEW": "network1"},
                     nslabels={"topology.istio.io/network": "network1"}),
    # seed 001 §1: selector app: my-gateway-controller
    "mygw": dict(svc="my-gateway-controller", labels={"app": "my-gateway-controller"},
                 ip="10.96.0.102", pod="my-gateway-controller-xyz", podip="10.244.0.5", proxy="my-gateway-controller",
                 ports=BASE_PORTS),
    # seed 001 §9: selector app: ingress-gateway
    "ingress-gateway": dict(svc="ingress-gateway", labels={"app": "ingress-gateway"},
                            ip="10.96.0.103", pod="ingress-gateway-xyz", podip="10.244.0.6", proxy="ingress-gateway",
                            ports=BASE_PORTS),
}

# ----------------------------------------------------------------------------- rendering


def flow(d):
    """A YAML flow mapping for a flat dict of strings (keys sorted)."""
    return "{" + ", ".join("%s: %s" % (k, q(v)) for k, v in sorted(d.items())) + "}"


def q(v):
    s = str(v)
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", s) and s not in ("true", "false", "null", "yes", "no"):
        return s
    return '"%s"' % s


def port_line(name, port, target, proto, indent):
    fields = []
    if name:
        fields.append("name: %s" % name)
    fields.append("port: %d" % port)
    if target is not None:
        fields.append("targetPort: %d" % target)
    fields.append("protocol: %s" % proto)
    return " " * indent + "- {" + ", ".join(fields) + "}\n"


def ep_port_line(name, target, proto, indent):
    fields = []
    if name:
        fields.append("name: %s" % name)
    fields.append("port: %d" % target)
    fields.append("protocol: %s" % proto)
    return " " * indent + "- {" + ", ".join(fields) + "}\n"


def render_workload(name, ns, ports, sel, svc_labels, pods, sa, cluster_ip, pod_extra=None, lb=False):
    """Service + Pods + EndpointSlice."""
    out = []
    s = "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\n" % (name, ns)
    if svc_labels:
        s += "  labels: %s\n" % flow(svc_labels)
    s += "spec:\n"
    if lb:
        s += "  type: LoadBalancer\n"
    s += "  clusterIP: %s\n  selector: %s\n  ports:\n" % (cluster_ip, flow(sel))
    for (pn, p, t, proto) in ports:
        s += port_line(pn, p, t, proto, 2)
    out.append(s)
    for (pod, ip, extra) in pods:
        labels = dict(sel)
        labels.update(extra)
        labels.update(pod_extra or {})
        p = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels: %s\n" % (pod, ns, flow(labels))
        p += "spec:\n"
        if sa:
            p += "  serviceAccountName: %s\n" % sa
        p += "  containers: [{name: app, image: %s}]\n" % ("proxyv2" if lb else name)
        p += "status:\n  phase: Running\n  podIP: %s\n  podIPs: [{ip: %s}]\n" % (ip, ip)
        p += '  conditions: [{type: Ready, status: "True"}]\n'
        out.append(p)
    e = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: %s-1\n  namespace: %s\n" % (name, ns)
    e += "  labels: {kubernetes.io/service-name: %s}\naddressType: IPv4\nendpoints:\n" % name
    for (pod, ip, _) in pods:
        e += "- addresses: [%s]\n  conditions: {ready: true}\n  targetRef: {kind: Pod, name: %s, namespace: %s}\n" % (
            ip, pod, ns)
    e += "ports:\n"
    for (pn, p, t, proto) in ports:
        e += ep_port_line(pn, t, proto, 0)
    out.append(e)
    return out


def render_app(key):
    a = APPS[key]
    name = a.get("name", key)
    labels = {} if a.get("nolabels") else {"app": a["sel"].get("app", name)}
    labels.update(a.get("labels", {}))
    return render_workload(name, a["ns"], a["ports"], a["sel"], labels, a["pods"], a["sa"], a["ip"],
                           pod_extra={"security.istio.io/tlsMode": "istio"})


def render_secret(key):
    name, typ, keys = SECRETS[key]
    s = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: istio-system\ntype: %s\ndata:\n" % (name, typ)
    for k in keys:
        s += "  %s: %s\n" % (k, DUMMY)
    return s


def render_namespace(ns, labels=None):
    s = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n" % ns
    if labels:
        s += "  labels: %s\n" % flow(labels)
    return s


def parse_gw(spec):
    """ingress+tcp:31400+http3:443:8443/UDP -> (gateway key, [(name, port, target, proto)])"""
    parts = spec.split("+")
    extra = []
    for p in parts[1:]:
        proto = "TCP"
        if p.endswith("/UDP"):
            proto, p = "UDP", p[:-4]
        f = p.split(":")
        name, port = f[0], int(f[1])
        target = int(f[2]) if len(f) > 2 else port
        extra.append((name, port, target, proto))
    return parts[0], extra


def render_gateway(key, extra):
    g = GATEWAYS[key]
    docs = [render_namespace("istio-system", g.get("nslabels"))]
    docs += render_workload(g["svc"], "istio-system", list(g["ports"]) + extra, g["labels"], g["labels"],
                            [(g["pod"], g["podip"], {})], None, g["ip"], lb=True)
    return docs


def render_proxies(key, locality=""):
    g = GATEWAYS[key]
    labels = dict(g["labels"])
    if locality:
        # the topology labels istiod adds to a connected proxy's labels (setTopologyLabels: region, zone,
        # subzone from its locality, its cluster, its network); the oracle's SetupProxy does not add them,
        # and failoverPriority compares endpoints with them
        for k, v in zip(("topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"),
                        locality.split("/")):
            if v:
                labels[k] = v
        labels["topology.istio.io/cluster"] = "Kubernetes"
        if g.get("metadata", {}).get("NETWORK"):
            labels.setdefault("topology.istio.io/network", g["metadata"]["NETWORK"])
    s = "- name: %s\n  type: router\n  namespace: istio-system\n  ip: %s\n  labels: %s\n" % (
        g["proxy"], g["podip"], flow(labels))
    if g.get("metadata"):
        s += "  metadata: %s\n" % flow(g["metadata"])
    if locality:
        s += "  locality: %s\n" % locality
    return s


NS_RE = re.compile(r"^\s+namespace:\s*\"?([a-z0-9-]+)\"?\s*(#.*)?$", re.M)


def config_namespaces(case_dir):
    """Namespaces named in the hand-written Istio/Ingress YAML of a case (objects without one live in default)."""
    found = {"default"}
    for f in ("config.yaml", "rejected.yaml"):
        p = os.path.join(case_dir, f)
        if os.path.exists(p):
            with open(p) as fh:
                found.update(m.group(1) for m in NS_RE.finditer(fh.read()))
    return found


HEADER = "# generated by test/oracle/mkworld.py from _world/manifest.txt; do not edit by hand\n"


def write(path, docs):
    with open(path, "w") as f:
        f.write(HEADER + "---\n".join(docs))


def parse_manifest(path):
    cases = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = [x.strip() for x in line.split("|")]
            c = {"case": fields[0], "gw": "ingress", "apps": [], "secrets": [], "locality": ""}
            for fld in fields[1:]:
                k, _, v = fld.partition("=")
                if k in ("gw", "locality"):
                    c[k] = v
                elif k in ("apps", "secrets"):
                    c[k] = [x for x in v.split(",") if x]
                else:
                    raise SystemExit("%s: unknown field %r in line %r" % (path, k, line))
            cases.append(c)
    return cases


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cases_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "xds", "translate", "testdata", "cases")
    world = os.path.join(cases_dir, "_world")
    # building blocks, for readers
    for sub in ("apps", "gateways", "secrets"):
        os.makedirs(os.path.join(world, sub), exist_ok=True)
    for k in APPS:
        write(os.path.join(world, "apps", k + ".yaml"), render_app(k))
    for k in GATEWAYS:
        write(os.path.join(world, "gateways", k + ".yaml"), render_gateway(k, []))
        with open(os.path.join(world, "gateways", k + ".proxies.yaml"), "w") as f:
            f.write(HEADER + render_proxies(k))
    for k in SECRETS:
        write(os.path.join(world, "secrets", k + ".yaml"), [render_secret(k)])
    n = 0
    for c in parse_manifest(os.path.join(world, "manifest.txt")):
        d = os.path.join(cases_dir, c["case"])
        if not os.path.isfile(os.path.join(d, "config.yaml")) and not os.path.isfile(os.path.join(d, "rejected.yaml")):
            raise SystemExit("%s: no config.yaml" % d)
        gw, extra = parse_gw(c["gw"])
        namespaces = config_namespaces(d) | {APPS[a]["ns"] for a in c["apps"]}
        namespaces.discard("istio-system")
        docs = [render_namespace(ns) for ns in sorted(namespaces)]
        for a in c["apps"]:
            docs += render_app(a)
        for s in c["secrets"]:
            docs.append(render_secret(s))
        write(os.path.join(d, "k8s.yaml"), docs)
        write(os.path.join(d, "gateway-svc.yaml"), render_gateway(gw, extra))
        with open(os.path.join(d, "proxies.yaml"), "w") as f:
            f.write(HEADER + render_proxies(gw, c["locality"]))
        n += 1
    print("mkworld: %d cases" % n)


if __name__ == "__main__":
    main()
