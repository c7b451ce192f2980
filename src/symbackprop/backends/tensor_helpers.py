"""The helpers an image network's generated array module carries: windows, their adjoint, max routing, per library.

``_scatter`` adds a gather's gradient back into its table (an embedding's), ``_window`` gives an image's
(C, kh, kw, OH, OW, m) patches, laid out once for the contractions, ``_unwindow`` adds patches back (kh·kw strided
slice-adds, not a scatter), ``_route`` sends a gradient to each window's first maximum.
"""

GEMM = '''
def _gemm(a, ka, ta, b, kb, tb):
    """a and b contracted over their shared axes as one matrix product of 2-D views (no copies): a's axes split
    at ka, the first part the summed one when ta; b's split at kb, the last part the summed one when tb."""
    a2 = a.reshape(int(np.prod(a.shape[:ka])), -1)
    b2 = b.reshape(int(np.prod(b.shape[:kb])), -1)
    free = (*(a.shape[ka:] if ta else a.shape[:ka]), *(b.shape[:kb] if tb else b.shape[kb:]))
    return ((a2.T if ta else a2) @ (b2.T if tb else b2)).reshape(free)

'''  # every array module imports NumPy as np; its shapes are tuples (torch.Size too)

# _unwindow and _route as NumPy and JAX spell them alike: {xp} is the module, {add} one patch added back
_ADJOINTS = '''
def _unwindow(cols, h, w, s, p):
    """The adjoint of _window: each patch entry of cols (C, kh, kw, OH, OW, m) added back into (C, h, w, m)."""
    c, kh, kw, oh, ow, m = cols.shape
    if s == kh == kw:  # windows that tile the image (pooling): the patches laid back side by side, no adds
        tiles = cols.transpose(0, 3, 1, 4, 2, 5).reshape(c, oh * kh, ow * kw, m)
        dropped = h + 2 * p - oh * kh, w + 2 * p - ow * kw  # rows and columns the floor dropped: no gradient
        if any(dropped):
            tiles = {xp}.pad(tiles, ((0, 0), (0, dropped[0]), (0, dropped[1]), (0, 0)))
        return tiles[:, p:p + h, p:p + w]
    out = {xp}.zeros((c, h + 2 * p, w + 2 * p, m), cols.dtype)
    for a in range(kh):
        for b in range(kw):
            {add}
    return out[:, p:p + h, p:p + w]


def _route(windows, g):
    """g (C, OH, OW, m) placed at each window's first maximum (as PyTorch with ties), 0 elsewhere."""
    c, kh, kw, oh, ow, m = windows.shape
    first = windows.reshape(c, kh * kw, oh, ow, m).argmax(axis=1)
    hot = {xp}.arange(kh * kw).reshape(1, -1, 1, 1, 1) == first[:, None]
    return (hot * g[:, None]).reshape(windows.shape)
'''
_PATCH = "out[:, a:a + s * (oh - 1) + 1:s, b:b + s * (ow - 1) + 1:s]"

NUMPY_TENSORS = GEMM + '''def _window(x, kh, kw, s, p):
    """The (C, kh, kw, OH, OW, m) patches of x (C, H, W, m), zero-padded by p, every s."""
    if p:
        x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    view = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # (C, H', W', m, kh, kw)
    # laid out once as (C, kh, kw, OH, OW, m), so that each contraction is one GEMM
    return np.ascontiguousarray(view[:, ::s, ::s].transpose(0, 4, 5, 1, 2, 3))

''' + _ADJOINTS.format(xp="np", add=f"{_PATCH} += cols[:, a, b]")

JAX_TENSORS = GEMM + '''def _window(x, kh, kw, s, p):
    """The (C, kh, kw, OH, OW, m) patches of x (C, H, W, m), zero-padded by p, every s."""
    if p:
        x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    oh, ow = (x.shape[1] - kh) // s + 1, (x.shape[2] - kw) // s + 1
    return jnp.stack([jnp.stack([x[:, a:a + s * (oh - 1) + 1:s, b:b + s * (ow - 1) + 1:s] for b in range(kw)], 1)
                      for a in range(kh)], 1)

''' + _ADJOINTS.format(xp="jnp", add=f"out = out.at{_PATCH[3:]}.add(cols[:, a, b])")

TORCH_TENSORS = GEMM + '''def _window(x, kh, kw, s, p):
    """The (C, kh, kw, OH, OW, m) patches of x (C, H, W, m), zero-padded by p, every s."""
    if p:
        x = torch.nn.functional.pad(x, (0, 0, p, p, p, p))
    # (C, OH, OW, m, kh, kw) as (C, kh, kw, OH, OW, m), laid out once so that each contraction is one GEMM
    return x.unfold(1, kh, s).unfold(2, kw, s).permute(0, 4, 5, 1, 2, 3).contiguous()


def _unwindow(cols, h, w, s, p):
    """The adjoint of _window: each patch entry of cols (C, kh, kw, OH, OW, m) added back into (C, h, w, m)."""
    c, kh, kw, oh, ow, m = cols.shape
    if s == kh == kw:  # windows that tile the image (pooling): the patches laid back side by side, no adds
        tiles = cols.permute(0, 3, 1, 4, 2, 5).reshape(c, oh * kh, ow * kw, m)
        dropped = h + 2 * p - oh * kh, w + 2 * p - ow * kw  # rows and columns the floor dropped: no gradient
        if any(dropped):
            tiles = torch.nn.functional.pad(tiles, (0, 0, 0, dropped[1], 0, dropped[0]))
        return tiles[:, p:p + h, p:p + w]
    out = cols.new_zeros((c, h + 2 * p, w + 2 * p, m))
    for a in range(kh):
        for b in range(kw):
            out[:, a:a + s * (oh - 1) + 1:s, b:b + s * (ow - 1) + 1:s] += cols[:, a, b]
    return out[:, p:p + h, p:p + w]


def _route(windows, g):
    """g (C, OH, OW, m) placed at each window's first maximum (as PyTorch with ties), 0 elsewhere."""
    c, kh, kw, oh, ow, m = windows.shape
    flat = windows.reshape(c, kh * kw, oh, ow, m)
    best, first = flat[:, 0], torch.zeros_like(flat[:, 0], dtype=torch.long)
    for j in range(1, kh * kw):  # a strict > keeps the first maximum; faster than torch's argmax over a short axis
        better = flat[:, j] > best
        best, first = torch.where(better, flat[:, j], best), torch.where(better, j, first)
    hot = torch.arange(kh * kw, device=g.device).reshape(1, -1, 1, 1, 1) == first[:, None]
    return (hot * g[:, None]).reshape(windows.shape)
'''


_SCATTER_DOC = "The adjoint of table[:, ids]: g's columns (D, T, m) added into a (D, v) table at their ids (T, m)."
NUMPY_TOKENS = f'''
def _scatter(g, ids, v):
    """{_SCATTER_DOC}"""
    ids, g = ids.reshape(-1), g.reshape(g.shape[0], -1)
    if ids.size * v <= 1 << 22:  # a product with the one-hot ids (4x np.add.at's speed, measured)
        return g @ (ids[:, None] == np.arange(v)).astype(g.dtype)
    order = np.argsort(ids, kind="stable")  # a large table: the columns of each id summed in one pass
    ids = ids[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    out = np.zeros((g.shape[0], v), g.dtype)
    out[:, ids[starts]] = np.add.reduceat(g[:, order], starts, axis=1)
    return out
'''

JAX_TOKENS = f'''
def _scatter(g, ids, v):
    """{_SCATTER_DOC}"""
    return jnp.zeros((g.shape[0], v), g.dtype).at[:, ids.reshape(-1)].add(g.reshape(g.shape[0], -1))
'''

TORCH_TOKENS = f'''
def _scatter(g, ids, v):
    """{_SCATTER_DOC}"""
    out = torch.zeros((g.shape[0], v), dtype=g.dtype, device=g.device)
    return out.index_add_(1, ids.reshape(-1), g.reshape(g.shape[0], -1))
'''


# a sequence's columns are its positions, sample after sample: (rows, m·T) is (rows, m, T) in C order
_SEQUENCES = '''
def _sdot(a, b, t, ta, tb):
    """Sample by sample, (aᵀ if ta else a) @ (bᵀ if tb else b): a and b hold t columns a sample, side by side."""
    a3 = {move}(a.reshape(a.shape[0], -1, t), 0, 1)  # (m, rows, t): one matrix a sample
    b3 = {move}(b.reshape(b.shape[0], -1, t), 0, 1)
    out = (a3.swapaxes(1, 2) if ta else a3) @ (b3.swapaxes(1, 2) if tb else b3)
    return {move}(out, 0, 1).reshape(out.shape[1], -1)


def _causal(s, t, fill):
    """Scores (t keys, m·t queries) with each key after its query set to fill."""
    keep = {keep}
    return {xp}.where(keep, s, fill)
'''
NUMPY_SEQUENCES = """
def _sdot(a, b, t, ta, tb):
    \"\"\"Sample by sample, (aᵀ if ta else a) @ (bᵀ if tb else b): a and b hold t columns a sample, side by side
    (an attention layer's heads: (heads, rows, columns), head by head).\"\"\"
    a3, b3 = a.reshape(*a.shape[:-1], -1, t), b.reshape(*b.shape[:-1], -1, t)  # (rows, m, t): views, no copies
    # the product over axes -3 and -1 of each, the samples (and an attention layer's heads, in front) the batch
    out = np.matmul(a3, b3, axes=[(-1, -3) if ta else (-3, -1), (-1, -3) if tb else (-3, -1), (-3, -1)])
    return out.reshape(*out.shape[:-2], -1)


_MASKS = {}  # (t, columns, fill, dtype): the causal mask to add (fill -inf: 0 or -inf) or multiply by (fill 0: 1 or 0)


def _causal(s, t, fill):
    \"\"\"Scores (t keys, m·t queries) with each key after its query set to fill (-inf or 0): one addition or one
    product with a mask made once (the numbers of np.where for finite scores, at 7x its speed, measured).\"\"\"
    key = (t, s.shape[-1], fill, s.dtype)
    mask = _MASKS.get(key)
    if mask is None:  # (t, columns): the same for every head of a (heads, t, columns) array
        keep = np.tile(np.tri(t, dtype=bool).T, (1, s.shape[-1] // t))
        mask = _MASKS[key] = np.where(keep, 0, fill).astype(s.dtype) if fill else keep.astype(s.dtype)
    return s + mask if fill else s * mask
"""  # NumPy's matmul takes the axes to multiply over (measured 25% faster than moving them, 16 samples of 64)
JAX_SEQUENCES = _SEQUENCES.format(move="jnp.moveaxis", xp="jnp",
                                  keep="jnp.tile(jnp.tri(t, dtype=bool).T, (1, s.shape[1] // t))")
TORCH_SEQUENCES = _SEQUENCES.format(
    move="torch.movedim", xp="torch",
    keep="torch.ones(t, t, dtype=torch.bool, device=s.device).triu().repeat(1, s.shape[1] // t)")


# recurrences: each sample's t columns in turn.  One body for NumPy and PyTorch, with what differs filled in: {xp}
# the module, {cat} joining arrays along {ax}, {sig} the logistic function, {relu}, {zeros} a zero (rows, m) like z
_RECURRENCES = '''
def _lag(x, t):
    """Each sample's columns one position later (h_(s-1)): position 0 gets zeros."""
    x3 = x.reshape(x.shape[0], -1, t)
    return {cat}(({xp}.zeros_like(x3[:, :, :1]), x3[:, :, :-1]), {ax}=2).reshape(x.shape)


def _recur(z, w, t, cell):
    """h_s = f(z_s + w·h_(s-1)), h_(-1) = 0, position after position (f tanh or relu), from z (rows, m·t); an LSTM
    (z and w: gates i, f, g, o in rows) gives its state [h; c; i; f; g; o] at each position, c_(-1) = 0."""
    n = w.shape[1]
    z3 = z.reshape(z.shape[0], -1, t)
    h = c = {zeros}
    cols = []
    for s in range(t):
        a = z3[:, :, s] + w @ h
        if cell == "lstm":
            i, f, o, g = {sig}(a[:n]), {sig}(a[n:2 * n]), {sig}(a[3 * n:]), {xp}.tanh(a[2 * n:3 * n])
            c = f * c + i * g
            h = o * {xp}.tanh(c)
            cols.append({cat}((h, c, i, f, g, o)))
        else:
            h = {xp}.tanh(a) if cell == "tanh" else {relu}
            cols.append(h)
    return {xp}.stack(cols, {ax}=2).reshape(-1, z.shape[1])


def _bptt(g, st, w, t, cell):
    """Backpropagation through time, from the last position back: dC/dz (rows, m·t) from g = dC/dh (n, m·t) and the
    states st: delta_s = (g_s + wᵀ·delta_(s+1)) ⊙ f'; an LSTM's gates from dh_s and
    dc_s = dh_s ⊙ o ⊙ (1 - tanh²(c_s)) + dc_(s+1) ⊙ f_(s+1)."""
    n = w.shape[1]
    g3, s3 = g.reshape(n, -1, t), st.reshape(st.shape[0], -1, t)
    delta = {zeros_delta}
    dc_next = f_next = None
    cols = [None] * t
    for s in reversed(range(t)):
        dh = g3[:, :, s] + w.T @ delta
        if cell == "lstm":
            c, i, f, gg, o = (s3[k * n:(k + 1) * n, :, s] for k in range(1, 6))
            tc = {xp}.tanh(c)
            dc = dh * o * (1 - tc * tc)
            if dc_next is not None:
                dc = dc + dc_next * f_next
            c_prev = s3[n:2 * n, :, s - 1] if s else {xp}.zeros_like(c)
            delta = {cat}((dc * gg * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - gg * gg),
                           dh * tc * o * (1 - o)))
            dc_next, f_next = dc, f
        else:
            h = s3[:, :, s]
            delta = dh * (1 - h * h) if cell == "tanh" else dh * (h > 0)
        cols[s] = delta
    return {xp}.stack(cols, {ax}=2).reshape(w.shape[0], -1)
'''
NUMPY_RECURRENCES = _RECURRENCES.format(xp="np", cat="np.concatenate", ax="axis", sig="_logistic",
                                        relu="np.maximum(a, 0)", zeros="np.zeros((n, z3.shape[1]), z.dtype)",
                                        zeros_delta="np.zeros((w.shape[0], g3.shape[1]), g.dtype)")
TORCH_RECURRENCES = _RECURRENCES.format(xp="torch", cat="torch.cat", ax="dim", sig="torch.sigmoid",
                                        relu="torch.relu(a)", zeros="z.new_zeros((n, z3.shape[1]))",
                                        zeros_delta="g.new_zeros((w.shape[0], g3.shape[1]))")

# JAX: each recurrence one lax.scan over the positions (traced once, not unrolled t times)
JAX_RECURRENCES = '''
def _lag(x, t):
    """Each sample's columns one position later (h_(s-1)): position 0 gets zeros."""
    x3 = x.reshape(x.shape[0], -1, t)
    return jnp.pad(x3[:, :, :-1], ((0, 0), (0, 0), (1, 0))).reshape(x.shape)


def _recur(z, w, t, cell):
    """h_s = f(z_s + w·h_(s-1)), h_(-1) = 0, position after position (f tanh or relu), from z (rows, m·t); an LSTM
    (z and w: gates i, f, g, o in rows) gives its state [h; c; i; f; g; o] at each position, c_(-1) = 0."""
    n = w.shape[1]
    z3 = jnp.moveaxis(z.reshape(z.shape[0], -1, t), 2, 0)  # (t, rows, m): the scan's steps first

    def step(carry, zs):
        h, c = carry
        a = zs + w @ h
        if cell != "lstm":
            h = jnp.tanh(a) if cell == "tanh" else jnp.maximum(a, 0)
            return (h, c), h
        i, f, o = jax.nn.sigmoid(a[:n]), jax.nn.sigmoid(a[n:2 * n]), jax.nn.sigmoid(a[3 * n:])
        g = jnp.tanh(a[2 * n:3 * n])
        c = f * c + i * g
        h = o * jnp.tanh(c)
        return (h, c), jnp.concatenate((h, c, i, f, g, o))

    zero = jnp.zeros((n, z3.shape[2]), z.dtype)
    _, out = jax.lax.scan(step, (zero, zero), z3)
    return jnp.moveaxis(out, 0, 2).reshape(-1, z.shape[1])


def _bptt(g, st, w, t, cell):
    """Backpropagation through time, from the last position back: dC/dz (rows, m·t) from g = dC/dh (n, m·t) and the
    states st: delta_s = (g_s + wᵀ·delta_(s+1)) ⊙ f'; an LSTM's gates from dh_s and
    dc_s = dh_s ⊙ o ⊙ (1 - tanh²(c_s)) + dc_(s+1) ⊙ f_(s+1)."""
    n = w.shape[1]
    g3 = jnp.moveaxis(g.reshape(n, -1, t), 2, 0)  # (t, n, m)
    s3 = jnp.moveaxis(st.reshape(st.shape[0], -1, t), 2, 0)
    prev = jnp.concatenate((jnp.zeros_like(s3[:1]), s3[:-1]))  # each position's previous state

    def step(carry, xs):
        delta, dc_next, f_next = carry
        gs, ss, ps = xs
        dh = gs + w.T @ delta
        if cell != "lstm":
            h = ss
            delta = dh * (1 - h * h) if cell == "tanh" else dh * (h > 0)
            return (delta, dc_next, f_next), delta
        c, i, f, gg, o = (ss[k * n:(k + 1) * n] for k in range(1, 6))
        tc = jnp.tanh(c)
        dc = dh * o * (1 - tc * tc) + dc_next * f_next
        delta = jnp.concatenate((dc * gg * i * (1 - i), dc * ps[n:2 * n] * f * (1 - f), dc * i * (1 - gg * gg),
                                 dh * tc * o * (1 - o)))
        return (delta, dc, f), delta

    m = g3.shape[2]
    start = (jnp.zeros((w.shape[0], m), g.dtype), jnp.zeros((n, m), g.dtype), jnp.zeros((n, m), g.dtype))
    _, out = jax.lax.scan(step, start, (g3, s3, prev), reverse=True)
    return jnp.moveaxis(out, 0, 2).reshape(w.shape[0], -1)
'''
