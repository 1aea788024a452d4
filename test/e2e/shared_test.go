package e2e

// closeShared tears down what tests share (the mesh); set by the mesh setup.
var closeShared = func() {}
