package main

// startProfile starts profiling the daemon, if this binary was built for
// it (pprof.go, build tag tpmfs_pprof, for tpmfs-bench -pprof), and
// returns what stops it and writes the profiles.
var startProfile = func() (stop func()) { return func() {} }
