"""The compiled core of replication.estimator.exact_forest: sklearn's best splitter and depth-first tree builder for
squared error on one-hot labels with integer sample weights, over features sorted once (see that module and
docs/estimator.md for what is matched and why). Rows are classes: code[i] in 0..L-1, or L for a row of zeros.

Each feature's sorted entries are 64-bit words: the value's float32 bits above, the row's id below, so a
partition moves one word per entry; `row.view(np.float32)[2 p + 1]` is entry p's value.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EPSILON = np.finfo(np.float64).eps  # sklearn's tolerance for a pure node and for a split's improvement
FEATURE_THRESHOLD = np.float32(1e-7)  # values closer than this (in float32) are one value to sklearn
ID = 0xFFFFFFFF  # the row id's bits of an entry
MARGIN = 1.0 - 1e-12  # a split is scored exactly only if its exact value comes this close to the best


@njit(cache=True, nogil=True)
def _rand_int(low, high, state):
    """sklearn's rand_int: low + xorshift32(state) % (high - low); state is a one-element uint64 array."""
    s = state[0]
    if s == 0:
        s = np.uint64(1)
    s ^= (s << np.uint64(13)) & np.uint64(0xFFFFFFFF)
    s ^= s >> np.uint64(17)
    s ^= (s << np.uint64(5)) & np.uint64(0xFFFFFFFF)
    state[0] = s
    return low + np.int64(s % np.uint64(0x80000000)) % (high - low)


# --------------------------------------------------------------------------- one node


@njit(cache=True, nogil=True)
def _node_sums(samples, start, end, code, weight, sums):
    """Class weights of samples[start:end] into sums (L + 1 entries: the last for all-zero rows)."""
    sums[:] = 0
    for p in range(start, end):
        i = samples[p]
        sums[code[i]] += weight[i]


@njit(cache=True, nogil=True)
def _impurity(sums, total, n_out):
    """sklearn's MSE impurity of a node with these class weights: sq_sum / w - sum_k (sum_k / w)^2, / L."""
    w = float(total)
    sq = 0
    for k in range(n_out):
        sq += sums[k]
    impurity = float(sq) / w
    for k in range(n_out):
        m = float(sums[k]) / w
        impurity -= m * m
    return impurity / n_out


@njit(cache=True, nogil=True)
def _run_end(vals, start, end):
    """First position after the leading run of values equal to the first (binary search: values are sorted);
    start + 1 for a short segment, which is walked up without looking for the run."""
    run, hi = start + 1, end if end - start > 64 else start + 1
    while run < hi:
        mid = (run + hi) // 2
        if vals[2 * mid + 1] <= vals[2 * start + 1]:
            run = mid + 1
        else:
            hi = mid
    return run


@njit(cache=True, nogil=True)
def _scan(row, start, end, cw, n_out, nf, w_all, sq_all, side, best):
    """Every split of one feature's sorted segment; best[0], sklearn's proxy to beat (over the features already
    tried), is raised in place. Returns the position of this feature's best split if it beats best[0] (the
    first position of its maximum: sklearn keeps a split only if it is strictly better), else -1.

    sklearn's proxy is fl(fl(A / a) + fl(B / b)): A, B the sums of squared class weights left and right (the
    all-zero rows' class left out), a, b their weights. All are integers, exact in these float accumulators, so
    the exact value (A b + B a) / (a b), which that rounding is within a few units in the last place of, decides
    (with MARGIN) whether the divisions are done at all. Splits lie only where a value exceeds the one before by
    more than FEATURE_THRESHOLD: a long leading run of equal values (a ReLU layer's zeros) holds none, so then
    the segment is walked from its end down to the run, and the run is never visited."""
    vals = row.view(np.float32)
    run = _run_end(vals, start, end)
    side[:] = 0.0
    top, found, down = best[0], -1, 4 * (run - start) >= end - start
    sq_near, sq_far, w_near = 0.0, sq_all, 0.0  # the walked side (left going up, right going down), the other
    first, last, step = (end - 1, run - 1, -1) if down else (start, end - 1, 1)
    for p in range(first, last, step):
        packed = cw[row[p] & ID]
        c, wt = packed & 255, float(packed >> 8)
        old = side[c]
        sq_near += (2.0 * old + wt) * wt
        sq_far += (wt - 2.0 * (nf[c] - old)) * wt
        side[c] = old + wt
        w_near += wt
        q = p if down else p + 1  # the split between positions q - 1 and q
        if vals[2 * q + 1] <= vals[2 * q - 1] + FEATURE_THRESHOLD:
            continue  # the same value to sklearn: no split between them
        z_near = side[n_out]
        z_far = nf[n_out] - z_near
        a_near, a_far, w_far = sq_near - z_near * z_near, sq_far - z_far * z_far, w_all - w_near
        if a_near * w_far + a_far * w_near <= top * MARGIN * (w_near * w_far):
            continue
        if down:
            proxy = a_far / w_far + a_near / w_near
            if proxy >= top:  # ties go to the earlier position
                top, found = proxy, q
        else:
            proxy = a_near / w_near + a_far / w_far
            if proxy > top:
                top, found = proxy, q
    if found >= 0 and top > best[0]:
        best[0] = top
        return found
    return -1


@njit(cache=True, nogil=True)
def _threshold(row, pos):
    """sklearn's threshold between sorted entries pos - 1 and pos: the midpoint, unless it rounds onto the upper
    value (or overflows), then the lower value."""
    vals = row.view(np.float32)
    lo, hi = float(vals[2 * pos - 1]), float(vals[2 * pos + 1])
    t = lo / 2.0 + hi / 2.0
    if t == hi or t == np.inf or t == -np.inf:
        t = lo
    return t


@njit(cache=True, nogil=True)
def _draw_and_split(rows, start, end, cw, n_out, nf, side, features, constant, n_known, max_features, state, out):
    """sklearn's best-split search at one node: features drawn by its Fisher-Yates walk on its stream,
    constants set aside as it does. Fills out = (pos, feature) of the best split (pos = end: none) and
    returns the number of constant features the children inherit."""
    n_features = features.shape[0]
    f_i, n_visited, n_found, n_drawn, n_total = n_features, 0, 0, 0, n_known
    best = np.full(1, -np.inf)
    out[0], out[1] = end, 0
    w_all, sq_all = 0.0, 0.0  # the node's weight and sum of squared class weights, for every feature's scan
    for k in range(n_out + 1):
        w_all += nf[k]
        sq_all += nf[k] * nf[k]
    while f_i > n_total and (n_visited < max_features or n_visited <= n_found + n_drawn):
        n_visited += 1
        f_j = _rand_int(n_drawn, f_i - n_found, state)
        if f_j < n_known:  # a feature known to be constant: drawn, not evaluated
            features[n_drawn], features[f_j] = features[f_j], features[n_drawn]
            n_drawn += 1
            continue
        f_j += n_found
        f = features[f_j]
        vals = rows[f].view(np.float32)
        if vals[2 * end - 1] <= vals[2 * start + 1] + FEATURE_THRESHOLD:
            features[f_j], features[n_total] = features[n_total], features[f_j]
            n_found += 1
            n_total += 1
            continue
        f_i -= 1
        features[f_i], features[f_j] = features[f_j], features[f_i]
        pos = _scan(rows[f], start, end, cw, n_out, nf, w_all, sq_all, side, best)
        if pos >= 0:
            out[0], out[1] = pos, f
    features[:n_known] = constant[:n_known]  # the order of known constants is kept for siblings and children
    constant[n_known:n_total] = features[n_known:n_total]
    return n_total


@njit(cache=True, nogil=True)
def _children(row, start, pos, code, weight, n_out, node_sums, total, impurity, n_samples_weight, res):
    """Impurities of the two children of a split at pos and the split's improvement, as sklearn's criterion
    computes them: res = (impurity_left, impurity_right, improvement)."""
    left = np.zeros(n_out + 1, np.int64)
    for p in range(start, pos):
        i = row[p] & ID
        left[code[i]] += weight[i]
    w_left = 0
    sq_left, sq_total = 0, 0
    for k in range(n_out + 1):
        w_left += left[k]
    for k in range(n_out):
        sq_left += left[k]
        sq_total += node_sums[k]
    wl, wr, wn = float(w_left), float(total - w_left), float(total)
    imp_left = float(sq_left) / wl
    imp_right = float(sq_total - sq_left) / wr
    for k in range(n_out):
        ml = float(left[k]) / wl
        mr = float(node_sums[k] - left[k]) / wr
        imp_left -= ml * ml
        imp_right -= mr * mr
    imp_left /= n_out
    imp_right /= n_out
    res[0], res[1] = imp_left, imp_right
    res[2] = (wn / n_samples_weight) * (impurity - (wr / wn * imp_right) - (wl / wn * imp_left))


@njit(cache=True, nogil=True)
def _split_segment(o, start, end, goes_left, tmp):
    """Stable partition of o[start:end] (entries or row ids) into the rows marked in goes_left, then the others.
    Branch-free: each element is written to both sides and only the pointer of its own side moves."""
    put, n_right = start, 0
    for p in range(start, end):
        w = o[p]
        g = goes_left[w & ID]
        o[put] = w
        tmp[n_right] = w
        put += g
        n_right += 1 - g
    for j in range(n_right):
        o[put + j] = tmp[j]


@njit(cache=True, nogil=True)
def _partition(rows, samples, start, end, goes_left, skip, tmp, tmp_s):
    """Every feature's segment [start, end) and samples split stably by goes_left; features flagged in skip
    (constant here, never evaluated below) are left."""
    for f in range(rows.shape[0]):
        if not skip[f]:
            _split_segment(rows[f], start, end, goes_left, tmp)
    _split_segment(samples, start, end, goes_left, tmp_s)


@njit(cache=True, nogil=True)
def in_bag(entries_all, weight, rows):
    """Every feature's sorted entries without the rows of weight 0, which sklearn leaves out."""
    for f in range(entries_all.shape[0]):
        put = 0
        for p in range(entries_all.shape[1]):
            w = entries_all[f, p]
            if weight[w & ID] > 0:
                rows[f, put] = w
                put += 1


SMALL = 2048  # a node with at most this many samples grows its subtree in a block of its own


@njit(cache=True, nogil=True)
def _node(rows, samples, rec, impurity, first, data, ws, out, count):
    """One node of sklearn's DepthFirstTreeBuilder, numbered `count`: its statistics, leaf rules and split;
    a split node's segment is partitioned into its children's. rec: start, end, depth, parent, is_left,
    n_constant. Returns (is_leaf, pos, n_constant for the children, impurity_left, impurity_right)."""
    code, weight, cw, n_out, max_features, max_depth, n_samples_weight, _ = data
    features, constant, sums, nf, side, split, res, goes_left, skip, tmp, tmp_s, state = ws
    nodes_i, nodes_f, value = out
    start, end, depth, parent, is_left, n_const = rec[0], rec[1], rec[2], rec[3], rec[4], rec[5]
    _node_sums(samples, start, end, code, weight, sums)
    total = sums.sum()
    for k in range(n_out + 1):
        nf[k] = float(sums[k])
    is_leaf = depth >= max_depth or end - start < 2
    if first:
        impurity = _impurity(sums, total, n_out)
    is_leaf = is_leaf or impurity <= EPSILON
    pos, f = end, 0
    if not is_leaf:
        n_const = _draw_and_split(rows, start, end, cw, n_out, nf, side, features, constant, n_const, max_features,
                                  state, split)
        pos, f = split[0], split[1]
        if pos < end:
            _children(rows[f], start, pos, code, weight, n_out, sums, total, impurity, n_samples_weight, res)
        is_leaf = pos >= end or res[2] + EPSILON < 0.0
    if parent >= 0:
        nodes_i[parent, 1 - is_left] = count
    nodes_i[count, 0], nodes_i[count, 1], nodes_i[count, 2], nodes_i[count, 3] = -1, -1, -2, end - start
    nodes_i[count, 4] = 0
    nodes_f[count, 0], nodes_f[count, 1], nodes_f[count, 2] = -2.0, impurity, float(total)
    for k in range(n_out):
        value[count, k] = float(sums[k]) / float(total)
    if is_leaf:
        return True, pos, n_const, 0.0, 0.0
    nodes_i[count, 2], nodes_i[count, 4] = f, 1 if pos - start > end - pos else 0
    nodes_f[count, 0] = _threshold(rows[f], pos)
    for p in range(start, pos):
        goes_left[rows[f, p] & ID] = 1
    for c in range(n_const):
        skip[features[c]] = True
    _partition(rows, samples, start, end, goes_left, skip, tmp, tmp_s)
    goes_left[samples[start:pos]] = 0
    skip[features[:n_const]] = False
    return False, pos, n_const, res[0], res[1]


@njit(cache=True, nogil=True)
def _push(stack_i, stack_f, top, rec, node, pos, n_const, impurity_left, impurity_right):
    """Push a split node's children, the right one first (so the left subtree gets the next ids)."""
    for side in range(2):
        stack_i[top, 0], stack_i[top, 1] = (pos, rec[1]) if side == 0 else (rec[0], pos)
        stack_i[top, 2], stack_i[top, 3], stack_i[top, 4], stack_i[top, 5] = rec[2] + 1, node, side, n_const
        stack_f[top] = impurity_right if side == 0 else impurity_left
        top += 1
    return top


@njit(cache=True, nogil=True)
def _visit(rows, samples, stack_i, stack_f, top, first, data, ws, out, count, deepest):
    """Grow the node on top of the stack (it is popped; its children, if it splits, are pushed) as node `count`.
    Returns (top, count, deepest) after it."""
    top -= 1
    r = stack_i[top].copy()
    is_leaf, pos, n_const, imp_left, imp_right = _node(rows, samples, r, stack_f[top], first, data, ws, out, count)
    if not is_leaf:
        top = _push(stack_i, stack_f, top, r, count, pos, n_const, imp_left, imp_right)
    return top, count + 1, max(deepest, r[2])


@njit(cache=True, nogil=True)
def _grow_block(rows, samples, rec, impurity, data, ws, out, count):
    """The subtree of one node whose samples are all of this block (rows: F x n entries, contiguous), depth
    first. Returns (nodes written so far, deepest depth)."""
    n = samples.shape[0]
    stack_i, stack_f = np.empty((n + 1, 6), np.int64), np.empty(n + 1)
    stack_i[0, :] = rec
    stack_i[0, 0], stack_i[0, 1] = 0, n
    stack_f[0] = impurity
    top, deepest = 1, 0
    while top > 0:
        top, count, deepest = _visit(rows, samples, stack_i, stack_f, top, False, data, ws, out, count, deepest)
    return count, deepest


@njit(cache=True, nogil=True)
def grow(rows, samples, data, ws, out, block_buffer):
    """One tree, depth first as sklearn's DepthFirstTreeBuilder; a small node's subtree is grown in a block
    holding just its samples' sorted rows (the rows of the whole tree are far apart in memory), in block_buffer
    (F x SMALL entries, reused). Returns (node_count, depth)."""
    n = samples.shape[0]
    stack_i, stack_f = np.empty((n + 1, 6), np.int64), np.empty(n + 1)
    stack_i[0, 0], stack_i[0, 1], stack_i[0, 2], stack_i[0, 3], stack_i[0, 4], stack_i[0, 5] = 0, n, 0, -1, 0, 0
    stack_f[0] = np.inf
    top, count, deepest = 1, 0, 0
    while top > 0:
        start, end = stack_i[top - 1, 0], stack_i[top - 1, 1]
        if count > 0 and end - start <= data[7]:
            top -= 1
            block = block_buffer[: rows.shape[0] * (end - start)].reshape((rows.shape[0], end - start))
            block[:, :] = rows[:, start:end]
            count, depth = _grow_block(block, samples[start:end].copy(), stack_i[top].copy(), stack_f[top], data,
                                       ws, out, count)
            deepest = max(deepest, depth)
        else:
            top, count, deepest = _visit(rows, samples, stack_i, stack_f, top, count == 0, data, ws, out, count,
                                         deepest)
    return count, deepest


@njit(cache=True, nogil=True)
def sort_keys(bits, f0, f1, keys):
    """keys[f] for features f0..f1 of bits (N x F float32 bits, row-major): each row's order-preserving key above
    its row id, so sorting a key row sorts the feature's values with ties in row order. Reads bits a row at a
    time (a tile of features), so the transpose stays in cache."""
    for i in range(bits.shape[0]):
        for f in range(f0, f1):
            b = np.uint64(bits[i, f])
            flip = np.uint64(0x80000000) if b >> np.uint64(31) == 0 else np.uint64(0xFFFFFFFF)
            keys[f, i] = ((b ^ flip) << np.uint64(32)) | np.uint64(i)


@njit(cache=True, nogil=True)
def keys_to_entries(keys, f0, f1):
    """Sorted keys of features f0..f1, in place, back to entries: the value's float32 bits above the row id."""
    for f in range(f0, f1):
        for p in range(keys.shape[1]):
            k = keys[f, p]
            hi = k >> np.uint64(32)
            b = hi ^ np.uint64(0x80000000) if hi >> np.uint64(31) == 1 else hi ^ np.uint64(0xFFFFFFFF)
            keys[f, p] = (b << np.uint64(32)) | (k & np.uint64(0xFFFFFFFF))
