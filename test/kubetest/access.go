package kubetest

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Name is the cluster's name.
func (c *Cluster) Name() string { return c.name }

// Dir is the cluster's directory: certificates, etcd data, logs
// (etcd.log, kube-apiserver.log) and the admin kubeconfig.
func (c *Cluster) Dir() string { return c.dir }

// URL is the API server's address, https://<bind address>:<port>.
func (c *Cluster) URL() string {
	return "https://" + net.JoinHostPort(c.host, strconv.Itoa(c.securePort))
}

// EtcdURL is etcd's client address.
func (c *Cluster) EtcdURL() string {
	return "http://" + net.JoinHostPort(c.host, strconv.Itoa(c.etcdPort))
}

// CAData is the PEM bundle that verifies the API server's serving
// certificate (valid for the bind address); with URL it is what a remote
// kubeconfig needs. Nil before the API server first started.
func (c *Cluster) CAData() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.servingCA...)
}

// RESTConfig returns a copy of the admin (system:masters) client
// configuration. Nil before the API server first started.
func (c *Cluster) RESTConfig() *rest.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.restConfig == nil {
		return nil
	}
	return rest.CopyConfig(c.restConfig)
}

// KubeconfigPath is the admin kubeconfig file (context named after the
// cluster), usable with kubectl --kubeconfig.
func (c *Cluster) KubeconfigPath() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kubeconfigPath
}

// UserConfig returns a client configuration that authenticates with a new
// client certificate for user in groups; RBAC decides what it may do.
func (c *Cluster) UserConfig(user string, groups ...string) (*rest.Config, error) {
	certPEM, keyPEM, err := c.pki.clientCert(user, groups)
	if err != nil {
		return nil, err
	}
	cfg := c.anonymousConfig()
	cfg.CertData, cfg.KeyData = certPEM, keyPEM
	return cfg, nil
}

// TokenConfig returns a client configuration that authenticates with a
// bearer token, such as one minted by the TokenRequest API.
func (c *Cluster) TokenConfig(token string) *rest.Config {
	cfg := c.anonymousConfig()
	cfg.BearerToken = token
	return cfg
}

func (c *Cluster) anonymousConfig() *rest.Config {
	return &rest.Config{
		Host:            c.URL(),
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData()},
	}
}

// loadServingCA reads the serving certificate kube-apiserver generated in
// --cert-dir and, the first time, builds the admin client configuration and
// writes the admin kubeconfig.
func (c *Cluster) loadServingCA(certFile string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.restConfig != nil {
		return nil
	}
	caPEM, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%s: no certificate yet", certFile)
	}
	kcfg := clientcmdapi.NewConfig()
	kcfg.Clusters[c.name] = &clientcmdapi.Cluster{Server: c.URL(), CertificateAuthorityData: caPEM}
	kcfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: c.pki.adminCertPEM,
		ClientKeyData:         c.pki.adminKeyPEM,
	}
	kcfg.Contexts[c.name] = &clientcmdapi.Context{Cluster: c.name, AuthInfo: "admin"}
	kcfg.CurrentContext = c.name
	path := filepath.Join(c.dir, "admin.kubeconfig")
	if err := clientcmd.WriteToFile(*kcfg, path); err != nil {
		return err
	}
	restCfg, err := clientcmd.NewDefaultClientConfig(*kcfg, nil).ClientConfig()
	if err != nil {
		return err
	}
	c.servingCA, c.restConfig, c.kubeconfigPath = caPEM, restCfg, path
	return nil
}
