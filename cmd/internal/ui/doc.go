// Package ui serves the daemon's live topology page on its admin API:
//
//	GET /ui                 the page (index.html); every asset is embedded (no CDN, works offline)
//	GET /ui/assets/NAME     its script and style sheet
//	GET /ui/state           the state the page draws, as JSON (State, given by the daemon)
//
// The page polls /ui/state once a second and redraws: the networks and the
// clusters in each, the east-west gateways that connect networks, the
// daemons (gossip members) with their state, generation and its age, the
// gateways connected to this daemon with their ACK/NACK state per xDS type,
// the change-to-ACK latency and end-to-end convergence histograms, and the
// rejected input. It shows
// nothing secret: the daemon's State carries no keys, tokens or
// certificates. It is served behind the admin API's own authentication,
// like /debug/ (the page's requests are same-origin and carry the caller's
// credentials).
//
// Imports only: the standard library.
package ui
