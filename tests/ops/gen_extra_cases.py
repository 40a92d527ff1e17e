#!/usr/bin/python3
# Extra conformance-style cases the ONNX 1.12 data lacks (opset-18 Reduce with axes
# as input, Einsum forms, ConvInteger variants), with numpy-computed outputs.
# Usage: gen_extra_cases.py OUT_DIR (deterministic: fixed seed).
import numpy as np, onnx, os, shutil
from onnx import helper, numpy_helper, TensorProto as TP
rng = np.random.default_rng(0)
import sys
root = sys.argv[1]; shutil.rmtree(root, ignore_errors=True); os.makedirs(root)
def save(name, node, inputs, outputs, opset):
    d = os.path.join(root, name); os.makedirs(d + '/test_data_set_0')
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype) if hasattr(helper,'np_dtype_to_tensor_dtype') else onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype], a.shape) for n, a in inputs]
    outs = [helper.make_tensor_value_info(n, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype], a.shape) for n, a in outputs]
    g = helper.make_graph([node], name, ins, outs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', opset)]); m.ir_version = 8
    onnx.save(m, d + '/model.onnx')
    for i, (n, a) in enumerate(inputs):
        open(f'{d}/test_data_set_0/input_{i}.pb', 'wb').write(numpy_helper.from_array(a, n).SerializeToString())
    for i, (n, a) in enumerate(outputs):
        open(f'{d}/test_data_set_0/output_{i}.pb', 'wb').write(numpy_helper.from_array(a, n).SerializeToString())

# Einsum
eqs = [('ij,jk->ik', [(3,4),(4,5)]), ('bij,bjk->bik', [(2,3,4),(2,4,2)]), ('ii->i', [(4,4)]), ('ii', [(3,3)]),
       ('...ij->...ji', [(2,3,4)]), ('ij,ij->', [(3,3),(3,3)]), ('i,j->ij', [(3,),(4,)]), ('abc,cd->ad', [(2,3,4),(4,5)]),
       ('...ij,...jk', [(2,1,3,4),(5,4,2)]), ('bii->bi', [(2,3,3)]), ('iij->j', [(2,2,3)]), ('ba', [(2,3)]), ('ij,jk,kl->il', [(2,3),(3,4),(4,2)]),
       ('Ab,bA->A', [(3,2),(2,3)]), ('ij,jk->ik', [(2,1),(3,4)]), ('ij,ij->i', [(2,1),(2,4)]), ('...ij->...', [(2,3,4)]), ('i...,i...->...', [(3,2,2),(3,1,2)])]
for n, (eq, shapes) in enumerate(eqs):
    arrs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    y = np.einsum(eq, *arrs).astype(np.float32)
    names = [f'x{i}' for i in range(len(arrs))]
    save(f'einsum_{n}', helper.make_node('Einsum', names, ['y'], equation=eq), list(zip(names, arrs)), [('y', np.asarray(y))], 12)
for n, (eq, shapes) in enumerate(eqs[:6]):
    arrs = [rng.integers(-5, 5, s).astype(np.int64) for s in shapes]
    y = np.einsum(eq, *arrs).astype(np.int64)
    names = [f'x{i}' for i in range(len(arrs))]
    save(f'einsumint_{n}', helper.make_node('Einsum', names, ['y'], equation=eq), list(zip(names, arrs)), [('y', np.asarray(y))], 12)

# ConvInteger: naive reference
def conv_ref(x, w, pads, strides, dil, group):
    N, C = x.shape[:2]; M = w.shape[0]; sp = x.shape[2:]; ks = w.shape[2:]; ns = len(sp)
    xp = np.pad(x, [(0,0),(0,0)] + [(pads[i], pads[ns+i]) for i in range(ns)])
    outs = [ (xp.shape[2+i] - ((ks[i]-1)*dil[i]+1)) // strides[i] + 1 for i in range(ns)]
    y = np.zeros((N, M) + tuple(outs), np.int64); cg = C // group; mg = M // group
    for idx in np.ndindex(*outs):
        for m in range(M):
            g = m // mg
            sl = tuple(slice(idx[i]*strides[i], idx[i]*strides[i] + (ks[i]-1)*dil[i] + 1, dil[i]) for i in range(ns))
            patch = xp[(slice(None), slice(g*cg, (g+1)*cg)) + sl]
            y[(slice(None), m) + idx] = (patch * w[m][None]).reshape(N, -1).sum(1)
    return y
for n in range(12):
    ns = [1, 2, 2, 3][n % 4]; group = [1, 2][n % 2]
    C = group * int(rng.integers(1, 3)); M = group * int(rng.integers(1, 3))
    sp = [int(rng.integers(3, 7)) for _ in range(ns)]; ks = [int(rng.integers(1, 4)) for _ in range(ns)]
    pads = [int(rng.integers(0, 2)) for _ in range(2*ns)]; strides = [int(rng.integers(1, 3)) for _ in range(ns)]; dil = [int(rng.integers(1, 3)) for _ in range(ns)]
    x = rng.integers(0, 256, [2, C] + sp).astype(np.uint8); w = rng.integers(-128, 128, [M, C//group] + ks).astype(np.int8)
    xz = np.array(int(rng.integers(0, 256)), np.uint8); wz = rng.integers(-5, 5, [M]).astype(np.int8)
    try:
        y = conv_ref(x.astype(np.int64) - int(xz), w.astype(np.int64) - wz.reshape([M] + [1]*(ns+1)), pads, strides, dil, group)
    except Exception: continue
    if min(y.shape) == 0: continue
    node = helper.make_node('ConvInteger', ['x','w','xz','wz'], ['y'], pads=pads, strides=strides, dilations=dil, group=group)
    save(f'convint_{n}', node, [('x',x),('w',w),('xz',xz),('wz',wz)], [('y', y.astype(np.int32))], 10)

# Reduce opset 18 with axes input, noop, keepdims
ops = {'ReduceMean': np.mean, 'ReduceMax': np.max, 'ReduceMin': np.min, 'ReduceProd': np.prod, 'ReduceL1': lambda a, axis, keepdims: np.sum(np.abs(a), axis=axis, keepdims=keepdims),
       'ReduceL2': lambda a, axis, keepdims: np.sqrt(np.sum(a*a, axis=axis, keepdims=keepdims)), 'ReduceLogSumExp': lambda a, axis, keepdims: np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims)),
       'ReduceSumSquare': lambda a, axis, keepdims: np.sum(a*a, axis=axis, keepdims=keepdims), 'ReduceLogSum': lambda a, axis, keepdims: np.log(np.sum(a, axis=axis, keepdims=keepdims))}
for n, (op, f) in enumerate(ops.items()):
    for j, axes in enumerate([[1], [0, 2], [-1], []]):
        x = rng.uniform(0.5, 2, (3, 4, 5)).astype(np.float32)
        kd = j % 2
        y = f(x, axis=tuple(axes) if axes else None, keepdims=bool(kd)).astype(np.float32)
        save(f'reduce18_{op}_{j}', helper.make_node(op, ['x', 'axes'], ['y'], keepdims=kd), [('x', x), ('axes', np.array(axes, np.int64))], [('y', np.asarray(y))], 18)
print(len(os.listdir(root)), 'cases')
