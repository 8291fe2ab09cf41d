package cuda

// Soft-argmax forward launches. The default kernels split each volume
// (b, joint) over S blocks like the multi-block BatchNorm (bnSplit), with
// the per-chunk partials after the probabilities in the node's aux buffer;
// the legacy one (with the legacy BatchNorm kernels: POSELAB_CUDA_BN=legacy,
// or NVRTC rejecting the multi-block sections) runs a block per volume.

// softArgmaxAuxBytes is a soft-argmax's aux buffer for BJ volumes of n
// values: the probabilities (read again by backward), then S (max, sum)
// pairs and S coordinate triples per volume, in double (forward only).
func softArgmaxAuxBytes(BJ, n int) int64 {
	S, _ := bnSplit(n)
	return alignUp(int64(BJ)*int64(n)*4) + int64(BJ*S*5*8)
}

// softArgmaxFwd queues the probabilities of x's BJ volumes (D x H x W)
// into aux and their expected (x, y, z) in voxels into y.
func (d *device) softArgmaxFwd(x, aux, y uint64, BJ, D, H, W int, legacy bool) error {
	n := D * H * W
	if legacy || BJ > maxGridY { // the multi-block grid has the volumes on y
		return d.launch("softargmax_fwd", BJ, bnThreads(n), x, aux, y, D, H, W)
	}
	S, chunk := bnSplit(n)
	part := aux + uint64(alignUp(int64(BJ)*int64(n)*4))
	mpart := part + uint64(BJ*S*2*8)
	if err := d.launch2("softargmax_stats", S, BJ, bnBlock, x, part, n, S, chunk); err != nil {
		return err
	}
	if err := d.launch2("softargmax_apply", S, BJ, bnBlock, x, aux, part, mpart, n, S, chunk, H, W); err != nil {
		return err
	}
	return d.launch("softargmax_final", (BJ+bnBlock-1)/bnBlock, bnBlock, mpart, y, BJ, S)
}
