package sandbox

// Owned by the inventory work (issue #4): DescribeInstanceInformation,
// DescribeInstances, DescribeRegions, GetCallerIdentity, latency and
// throttling knobs.

// LimitOptions configures API latency and throttling.
type LimitOptions struct{}

func (a *apiServer) registerInventoryAPI() {}
