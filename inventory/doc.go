// Package inventory discovers SSM-managed instances across AWS profiles and
// regions: SSM DescribeInstanceInformation joined with EC2 DescribeInstances,
// on-prem mi- nodes, a disk cache and a target resolver.
//
// # Scanning
//
// A [Scanner] lists every (profile, region) pair concurrently and hands each
// outcome to a callback as soon as it is known, so a UI fills as regions
// answer:
//
//	s := inventory.NewScanner(inventory.Options{
//		Profiles:   profiles,                 // from LoadProfiles
//		LoadConfig: loadAWSConfig,            // aws.Config per profile (credentials, endpoint, MFA)
//		CacheDir:   inventory.DefaultCacheDir(),
//	})
//	s.Scan(ctx, func(r inventory.Result) { … })   // cached results first, then live ones
//
// Per region the scanner pages DescribeInstanceInformation (MaxResults 50)
// and, while later pages are still being fetched, enriches the EC2 nodes with
// DescribeInstances filtered by instance-id (200 IDs per call). Hybrid mi-
// nodes come from SSM alone. Regions come from DescribeRegions (enabled
// regions only) or, when that is denied, from [FallbackRegions].
//
// A region that fails is a [Result] with Err set to a [*RegionError] (access
// denied, throttled out, region disabled, timeout); a profile whose
// credentials fail is one Result with an empty Region and Err set to
// [*SSOExpiredError] or [*CredentialsError]. Scan itself never fails.
//
// # Cache
//
// The last live results per profile are stored in a versioned binary file
// ([SaveCache], [LoadCache]) written atomically. A missing, corrupt or
// old-format file is ignored (debug log), never fatal.
//
// # JSON
//
// [Instance] is also the row format of `ssmtui list --json`, one array of
// objects whose field names are stable: id, name, profile, account, region,
// pingStatus, agentVersion, isLatestVersion, platformType, platformName,
// platformVersion, resourceType, computerName, lastPing, state,
// instanceType, privateIp, publicIp, privateDns, publicDns, vpcId, subnetId,
// availabilityZone, platformDetails, launchTime, iamInstanceProfile (ARN) and
// tags (an object, Name included). Times are RFC 3339. Empty strings and
// zero times are omitted; isLatestVersion is always present. Hybrid mi-
// nodes carry only the SSM fields (no state, EC2 network fields or tags).
// Fields may be added; none is renamed or removed without a major version.
//
// # Resolving targets
//
// [Resolve] maps what a user typed (instance ID, Name tag, private IP or DNS
// name) to one instance, or returns [*AmbiguousError] / [*NotFoundError]
// carrying the candidates.
package inventory
