package translate

// CPUTime is cpuTime for the benchmarks of package translate_test.
var CPUTime = cpuTime
