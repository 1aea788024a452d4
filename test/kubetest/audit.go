package kubetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// auditPolicy records every request's metadata (user, verb, resource,
// response code), never a request or response body: tokens and Secrets stay
// out of the log.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
`

// AuditEvent is one request as the API server's audit log records it.
type AuditEvent struct {
	User        string // user name, system:serviceaccount:<ns>:<name> for a token
	Verb        string // get, list, watch, create, update, patch, delete, ...
	APIGroup    string // "" for the core group
	Resource    string // plural resource; empty for a non-resource URL
	Subresource string
	Namespace   string
	Name        string
	Code        int // the response's HTTP status
}

// String is "group/resource[/subresource] verb [namespace]".
func (e AuditEvent) String() string {
	res := e.APIGroup + "/" + e.Resource
	if e.Subresource != "" {
		res += "/" + e.Subresource
	}
	if e.Namespace != "" {
		return fmt.Sprintf("%s %s %s", res, e.Verb, e.Namespace)
	}
	return res + " " + e.Verb
}

func (c *Cluster) auditLogPath() string { return filepath.Join(c.dir, "audit.log") }

// auditArgs writes the audit policy and returns the apiserver's flags for it.
func (c *Cluster) auditArgs() ([]string, error) {
	policy := filepath.Join(c.dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	return []string{
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + c.auditLogPath(),
		"--audit-log-format=json",
		// every request is in the file when its response has been sent
		"--audit-log-mode=blocking",
	}, nil
}

// AuditEvents returns the requests the API server has answered so far, in
// order (a watch when its response started and again when it ended). The
// cluster must have been started with Options.Audit.
func (c *Cluster) AuditEvents() ([]AuditEvent, error) {
	data, err := os.ReadFile(c.auditLogPath())
	if err != nil {
		return nil, fmt.Errorf("cluster %s: audit log (started with Options.Audit?): %w", c.name, err)
	}
	var out []AuditEvent
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var ev struct {
			User struct {
				Username string `json:"username"`
			} `json:"user"`
			Verb      string `json:"verb"`
			ObjectRef *struct {
				Resource    string `json:"resource"`
				Subresource string `json:"subresource"`
				Namespace   string `json:"namespace"`
				Name        string `json:"name"`
				APIGroup    string `json:"apiGroup"`
			} `json:"objectRef"`
			ResponseStatus *struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("cluster %s: audit log line %d: %w", c.name, n, err)
		}
		e := AuditEvent{User: ev.User.Username, Verb: ev.Verb}
		if r := ev.ObjectRef; r != nil {
			e.APIGroup, e.Resource, e.Subresource, e.Namespace, e.Name = r.APIGroup, r.Resource, r.Subresource, r.Namespace, r.Name
		}
		if ev.ResponseStatus != nil {
			e.Code = ev.ResponseStatus.Code
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
