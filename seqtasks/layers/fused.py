"""Fused recurrences with hand-written BPTT for the common cell configurations.

TensorFlow differentiates a `tf.while_loop` step by step: every iteration pushes its intermediates on stacks and,
going back, multiplies out the weight gradient of that step alone. For an RNN this turns the weight gradient
`dU = sum_t h_{t-1}^T dz_t` into T small matmuls. Here the backward loop only carries the state gradients
(`dh_{t-1} = dz_t U^T`), stores `dz_t`, and the weight gradient is one `(T*B, H)^T x (T*B, G*H)` matmul after
the loop. The forward loop keeps exactly what the backward loop needs (activated gates and previous states).

Used by `RNN` when a cell names one of the kernels here in its `fused_recurrence` property: `SimpleRNNCell` with
tanh/relu (`simple_tanh`, `simple_relu`), `LSTMCell` (`lstm`) and `GRUCell` (`gru_after`, `gru_before`) with tanh and
sigmoid, bias or not, no recurrent dropout. Other activations run the autodiff loop. The math is checked against the generic loop and against finite
differences in the tests. Second-order gradients through these loops are not supported (use the generic loop
via `seqtasks.layers.rnn.FUSED = False`).
"""

from __future__ import annotations

import tensorflow as tf

from seqtasks.layers.tracing import output_array


def fused_sequence(
    kind: str, projected, initial_states: list, recurrent_kernel, recurrent_bias, mask, for_training: bool = True
):
    """Runs the recurrence over time-major `projected` `(T, B, G*H)`.

    Args:
        kind: a cell's `fused_recurrence`.
        projected: input projections (input bias included), time-major, in processing order.
        initial_states: `[h]` or `[h, c]`.
        recurrent_kernel: `(H, G*H)` tensor.
        recurrent_bias: `(G*H,)` tensor added to the recurrent product (GRU `reset_after`), else None.
        mask: time-major `(T, B, 1)` bool or None.
        for_training: Whether to save what the hand-written backward pass needs and use it as the gradient. With
            False (inference) the loop saves nothing; a gradient through it is then TensorFlow's autodiff.

    Returns:
        `(outputs (T, B, H), final_states)`, where masked steps repeat the previous output (zeros before the
        first valid step) and keep the states unchanged.
    """
    has_c = kind == "lstm"
    use_rbias = recurrent_bias is not None
    units = initial_states[0].shape[-1]
    if units is None:
        units = tf.shape(initial_states[0])[-1]
    dtype = projected.dtype
    if mask is None:
        mask_f = None
    else:
        mask_f = tf.cast(mask, dtype)
    rbias = recurrent_bias if use_rbias else tf.zeros([0], dtype)

    def run(x, kernel, bias, *states):
        steps = tf.shape(x)[0]
        h0 = states[0]
        c0 = states[1] if has_c else tf.zeros([0], dtype)
        masked = mask_f is not None
        kernel_zr = kernel_h = None
        if kind == "gru_before":
            # Sliced once here, not in every step: the two parts are multiplied separately.
            kernel_zr, kernel_h = kernel[:, : 2 * units], kernel[:, 2 * units :]

        def body(t, prev_out, h, c, out_ta, saved_ta, hprev_ta, cprev_ta):
            p = x[t]
            if kind == "lstm":
                z = p + tf.matmul(h, kernel)
                zi, zf, zg, zo = tf.split(z, 4, axis=-1)
                i, f, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.sigmoid(zo)
                g = tf.tanh(zg)
                c_new = f * c + i * g
                h_new = o * tf.tanh(c_new)
                saved = tf.concat([i, f, g, o, c_new], -1)
            elif kind.startswith("gru"):
                # Both gates in one sigmoid over their 2 * units columns.
                x_zr, xh = p[:, : 2 * units], p[:, 2 * units :]
                if kind == "gru_after":
                    inner = tf.matmul(h, kernel)
                    if use_rbias:
                        inner = inner + bias
                    zr = tf.sigmoid(x_zr + inner[:, : 2 * units])
                    r = zr[:, units:]
                    aux = inner[:, 2 * units :]
                    n = tf.tanh(xh + r * aux)
                else:
                    zr = tf.sigmoid(x_zr + tf.matmul(h, kernel_zr))
                    r = zr[:, units:]
                    aux = r * h
                    n = tf.tanh(xh + tf.matmul(aux, kernel_h))
                h_new = n + zr[:, :units] * (h - n)
                saved = tf.concat([zr, n, aux], -1)
            else:
                a = p + tf.matmul(h, kernel)
                h_new = tf.tanh(a) if kind == "simple_tanh" else tf.nn.relu(a)
                saved = h_new
            if for_training and not reuse_outputs:
                saved_ta = saved_ta.write(t, saved)
            if masked:
                if for_training:
                    # States before this step; without a mask they are the previous step's outputs.
                    hprev_ta = hprev_ta.write(t, h)
                    if has_c:
                        cprev_ta = cprev_ta.write(t, c)
                m = mask_f[t]
                out = m * h_new + (1.0 - m) * prev_out
                h_next = m * h_new + (1.0 - m) * h
                c_next = (m * c_new + (1.0 - m) * c) if has_c else c
            else:
                out, h_next = h_new, h_new
                c_next = c_new if has_c else c
            out_ta = out_ta.write(t, out)
            return t + 1, out, h_next, c_next, out_ta, saved_ta, hprev_ta, cprev_ta

        size_if_masked = steps if masked and for_training else 0
        # Without a mask a simple RNN's outputs are exactly what its backward pass needs.
        reuse_outputs = kind.startswith("simple") and not masked
        _, _, h_t, c_t, out_ta, saved_ta, hprev_ta, cprev_ta = tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (
                tf.constant(0),
                tf.zeros_like(h0),
                h0,
                c0,
                output_array(dtype, steps, h0),
                *(
                    (
                        tf.TensorArray(dtype, size=steps if not reuse_outputs else 0),
                        tf.TensorArray(dtype, size=size_if_masked),
                        tf.TensorArray(dtype, size=size_if_masked if has_c else 0),
                    )
                    if for_training
                    # Nothing is saved at inference: placeholders, because converters fail on unused
                    # TensorArrays without an element shape (LiteRT, tf2onnx).
                    else (tf.zeros([0], dtype),) * 3
                ),
            ),
        )
        outputs = out_ta.stack()
        final = [h_t, c_t] if has_c else [h_t]
        if not for_training:
            return (outputs, *final), None
        saved_all = outputs if reuse_outputs else saved_ta.stack()
        if masked:
            hprev = hprev_ta.stack()
            cprev = cprev_ta.stack() if has_c else None
        else:
            hprev = tf.concat([h0[None], outputs[:-1]], 0)
            cprev = tf.concat([c0[None], saved_all[:-1, :, 4 * units :]], 0) if has_c else None

        def grad(d_outputs, *d_final):
            d_outputs = tf.zeros_like(outputs) if d_outputs is None else d_outputs
            dh_T = tf.zeros_like(h0) if d_final[0] is None else d_final[0]
            dc_T = tf.zeros([0], dtype)
            if has_c:
                dc_T = tf.zeros_like(h0) if d_final[1] is None else d_final[1]
            two_writes = kind == "gru_after"
            # Transposed once here, not by every step's matmul.
            kernel_t = tf.transpose(kernel)
            if kind == "gru_before":
                kernel_zr_t, kernel_h_t = tf.transpose(kernel_zr), tf.transpose(kernel_h)
            if kind == "lstm":
                zeros, ones = tf.zeros([units], dtype), tf.ones([units], dtype)
                tanh_offset = tf.concat([zeros, zeros, ones, zeros], 0)

            def back(t, carry, dh, dc, dp_ta, dinner_ta):
                # Without a mask nothing is carried past a step (carry stays zero).
                g_out = d_outputs[t] + carry if masked else d_outputs[t]
                h_prev = hprev[t]
                if masked:
                    m = mask_f[t]
                    dh_new = m * (g_out + dh)
                    carry = (1.0 - m) * g_out
                    dh_pass = (1.0 - m) * dh
                    if has_c:
                        dc_new, dc_pass = m * dc, (1.0 - m) * dc
                else:
                    dh_new = g_out + dh
                    dh_pass = None
                    if has_c:
                        dc_new, dc_pass = dc, None
                sv = saved_all[t]
                if kind == "lstm":
                    gates, c_new = sv[:, : 4 * units], sv[:, 4 * units :]
                    i, f, g, o = tf.split(gates, 4, axis=-1)
                    tanh_c = tf.tanh(c_new)
                    dct = dc_new + dh_new * o * (1.0 - tanh_c * tanh_c)
                    d_gates = tf.concat([dct * g, dct * cprev[t], dct * i, dh_new * tanh_c], -1)
                    # Activation derivatives of all four blocks at once: (1 - a) * (a + b) is a(1 - a) for the
                    # sigmoid gates (b = 0) and 1 - g^2 for the tanh candidate (b = 1).
                    dz = d_gates * (1.0 - gates) * (gates + tanh_offset)
                    dh_prev = tf.matmul(dz, kernel_t)
                    dc_prev = dct * f
                    if dc_pass is not None:
                        dc_prev = dc_prev + dc_pass
                    dp = dinner = dz
                elif kind.startswith("gru"):
                    zg, r, n, aux = tf.split(sv, 4, axis=-1)
                    keep = 1.0 - zg
                    dzg = dh_new * (h_prev - n) * zg * keep
                    dan = dh_new * keep * (1.0 - n * n)
                    if kind == "gru_after":
                        dr = dan * aux * r * (1.0 - r)
                        dinner = tf.concat([dzg, dr, dan * r], -1)
                        dh_prev = dh_new * zg + tf.matmul(dinner, kernel_t)
                        dp = tf.concat([dzg, dr, dan], -1)
                    else:
                        d_rh = tf.matmul(dan, kernel_h_t)
                        dr = d_rh * h_prev * r * (1.0 - r)
                        dp = dinner = tf.concat([dzg, dr, dan], -1)
                        dh_prev = (
                            dh_new * zg
                            + d_rh * r
                            + tf.matmul(dp[:, : 2 * units], kernel_zr_t)
                        )
                    dc_prev = dc
                else:
                    hn = sv
                    da = dh_new * ((1.0 - hn * hn) if kind == "simple_tanh" else tf.cast(hn > 0, dtype))
                    dh_prev = tf.matmul(da, kernel_t)
                    dp = dinner = da
                    dc_prev = dc
                if dh_pass is not None:
                    dh_prev = dh_prev + dh_pass
                dp_ta = dp_ta.write(t, dp)
                if two_writes:
                    dinner_ta = dinner_ta.write(t, dinner)
                return t - 1, carry, dh_prev, dc_prev, dp_ta, dinner_ta

            _, _, dh0, dc0, dp_ta, dinner_ta = tf.while_loop(
                lambda t, *_: t >= 0,
                back,
                (
                    steps - 1,
                    tf.zeros_like(h0),
                    dh_T,
                    dc_T,
                    tf.TensorArray(dtype, size=steps),
                    tf.TensorArray(dtype, size=steps if two_writes else 0),
                ),
            )
            d_x = dp_ta.stack()
            d_inner = dinner_ta.stack() if two_writes else d_x
            flat_h = tf.reshape(hprev, [-1, tf.shape(hprev)[-1]])
            flat_inner = tf.reshape(d_inner, [-1, tf.shape(d_inner)[-1]])
            if kind == "gru_before":
                flat_aux = tf.reshape(saved_all[:, :, 3 * units :], [-1, tf.shape(hprev)[-1]])
                d_kernel = tf.concat(
                    [
                        tf.matmul(flat_h, flat_inner[:, : 2 * units], transpose_a=True),
                        tf.matmul(flat_aux, flat_inner[:, 2 * units :], transpose_a=True),
                    ],
                    -1,
                )
            else:
                d_kernel = tf.matmul(flat_h, flat_inner, transpose_a=True)
            d_bias = tf.reduce_sum(flat_inner, 0) if use_rbias else tf.zeros([0], dtype)
            d_states = [dh0, dc0] if has_c else [dh0]
            return (d_x, d_kernel, d_bias, *d_states)

        return (outputs, *final), grad

    if for_training:
        result = tf.custom_gradient(run)(projected, recurrent_kernel, rbias, *initial_states)
    else:
        result, _ = run(projected, recurrent_kernel, rbias, *initial_states)
    outputs, final = result[0], list(result[1:])
    return outputs, final

