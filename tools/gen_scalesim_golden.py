#!/usr/bin/env python3
# ruff: noqa: E741, UP031
"""Generate golden SCALE-Sim v3 (PyPI scalesim==3.0.0) results for small layers.

Usage (SCALE-Sim in its own venv; it needs numpy<2 and pandas<3):
    python3 -m venv /tmp/ss && /tmp/ss/bin/pip install scalesim==3.0.0 'numpy<2' 'pandas<3'
    /tmp/ss/bin/python tools/gen_scalesim_golden.py            # all cases -> CSV
    /tmp/ss/bin/python tools/gen_scalesim_golden.py --one JSON # internal worker

Each case writes its own .cfg + topology .csv in $SCALESIM_RUN_ROOT/<case_id>/ and
runs SCALE-Sim through its Python API with save_disk_space=True (no traces).
Two cases run concurrently (2 cores), each in its own subprocess with a timeout.

Config knobs that matter (see scalesim_model.md):
  * USER mode: the ifmap / filter SRAM<->DRAM bandwidth are taken from the [layout] section keys
    IfmapSRAMBankBandwidth / FilterSRAMBankBandwidth (NOT from 'Bandwidth'); 'Bandwidth' (first
    value) is only used for the OFMAP drain. *SRAMBankBandwidth must be divisible by *SRAMBankNum.
  * CALC mode: ifmap/filter DRAM bw fixed at 10 words/cycle, ofmap drain bw = ArrayWidth.
  * word size is hard-wired to 1 byte inside SCALE-Sim (no config key).
"""
import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

_HERE = os.path.dirname(os.path.abspath(__file__))
VENV_PY = os.environ.get('SCALESIM_PYTHON', sys.executable)
RUN_ROOT = os.environ.get('SCALESIM_RUN_ROOT', '/tmp/scalesim_golden_runs')
LAYOUT = os.environ.get('SCALESIM_LAYOUT',
                        os.path.join(_HERE, '..', '..', 'shared', 'data', 'scalesim', 'layouts',
                                     'test.csv'))
OUT_CSV = os.environ.get('SCALESIM_GOLDEN_OUT',
                         os.path.join(_HERE, '..', 'tests', 'data', 'scalesim_golden.csv'))

CFG_TMPL = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    {ifmap_kb}
FilterSramSzkB:   {filter_kb}
OfmapSramSzkB:    {ofmap_kb}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {bandwidth}
Dataflow : {dataflow}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {rd_bw}
IfmapSRAMBankNum: {rd_banks}
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {rd_bw}
FilterSRAMBankNum: {rd_banks}
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""

GEMMS = {  # name: (M, N, K)
    'g52x33x35': (52, 33, 35),
    'g3x4x5': (3, 4, 5),
    'g100x20x70': (100, 20, 70),
    'g20x100x30': (20, 100, 30),
    'g64x48x40': (64, 48, 40),
    'g7x130x9': (7, 130, 9),
    'g40x40x120': (40, 40, 120),
    'g33x17x200': (33, 17, 200),
    # batch 2 (larger)
    'g200x64x150': (200, 64, 150),
    'g128x300x40': (128, 300, 40),
}
CONVS = {  # name: (H, W, R, S, C, F, stride)
    'c16_3x3_c4_f8_s1': (16, 16, 3, 3, 4, 8, 1),
    'c12_5x5_c3_f16_s2': (12, 12, 5, 5, 3, 16, 2),
    'c9_1x1_c16_f10_s1': (9, 9, 1, 1, 16, 10, 1),
    'c20_3x3_c8_f4_s2': (20, 20, 3, 3, 8, 4, 2),
    'c14_3x3_c6_f20_s1': (14, 14, 3, 3, 6, 20, 1),
    # batch 2 (larger)
    'c28_3x3_c16_f32_s1': (28, 28, 3, 3, 16, 32, 1),
    'c31_7x7_c3_f24_s3': (31, 31, 7, 7, 3, 24, 3),
}


def make_cases():
    rnd = random.Random(12345)
    cases = []

    def add(**kw):
        kw['case_id'] = 'case%03d' % len(cases)
        cases.append(kw)

    # 1. README example and neighbours (exact).
    add(layer='g52x33x35', dataflow='ws', rows=5, cols=16, ifmap_kb=1, filter_kb=64, ofmap_kb=64,
        mode='USER', bandwidth=2, rd_bw=10)
    for bw in (1, 4, 10):
        add(layer='g52x33x35', dataflow='ws', rows=5, cols=16, ifmap_kb=1, filter_kb=64,
            ofmap_kb=64, mode='USER', bandwidth=bw, rd_bw=10)
    for df in ('os', 'is'):
        add(layer='g52x33x35', dataflow=df, rows=5, cols=16, ifmap_kb=1, filter_kb=64,
            ofmap_kb=64, mode='USER', bandwidth=2, rd_bw=10)
    # 2. Random grid.
    arrays = [(5, 16), (16, 5), (8, 8), (32, 32), (4, 12), (12, 4)]
    srams = [(1, 1, 1), (1, 64, 64), (64, 1, 64), (64, 64, 1), (2, 2, 2), (64, 64, 64),
             (1, 2, 1), (4, 4, 4)]
    layers = list(GEMMS) + list(CONVS)
    while len(cases) < 132:
        layer = rnd.choice(layers)
        df = rnd.choice(['os', 'ws', 'is'])
        rows, cols = rnd.choice(arrays)
        ik, fk, ok = rnd.choice(srams)
        mode = rnd.choice(['USER', 'USER', 'USER', 'CALC'])
        bw = rnd.choice([1, 2, 4, 10])
        rd_bw = rnd.choice([10, 10, bw, 20])
        add(layer=layer, dataflow=df, rows=rows, cols=cols, ifmap_kb=ik, filter_kb=fk,
            ofmap_kb=ok, mode=mode, bandwidth=bw, rd_bw=rd_bw)
    # 3. Batch 2: larger layers, odd SRAM sizes / bandwidths / array shapes.
    big = ['g200x64x150', 'g128x300x40', 'c28_3x3_c16_f32_s1', 'c31_7x7_c3_f24_s3']
    arrays2 = [(7, 9), (2, 32), (32, 2), (16, 16), (5, 16)]
    srams2 = [(3, 5, 7), (1, 1, 2), (5, 3, 1), (2, 64, 3), (64, 2, 2)]
    while len(cases) < 156:
        layer = rnd.choice(big + layers)
        df = rnd.choice(['os', 'ws', 'is'])
        rows, cols = rnd.choice(arrays2)
        ik, fk, ok = rnd.choice(srams2)
        mode = rnd.choice(['USER', 'USER', 'CALC'])
        bw = rnd.choice([1, 3, 5, 16])
        rd_bw = rnd.choice([10, bw, 3, 30])
        add(layer=layer, dataflow=df, rows=rows, cols=cols, ifmap_kb=ik, filter_kb=fk,
            ofmap_kb=ok, mode=mode, bandwidth=bw, rd_bw=rd_bw)
    return cases


def run_one(case):
    """Run one case in-process (called inside the worker subprocess)."""
    from scalesim.scale_sim import scalesim
    d = os.path.join(RUN_ROOT, case['case_id'])
    os.makedirs(d, exist_ok=True)
    rd_bw = case['rd_bw']
    rd_banks = 10 if rd_bw % 10 == 0 else 1
    cfg = CFG_TMPL.format(run_name='run', rows=case['rows'], cols=case['cols'],
                          ifmap_kb=case['ifmap_kb'], filter_kb=case['filter_kb'],
                          ofmap_kb=case['ofmap_kb'], bandwidth=case['bandwidth'],
                          dataflow=case['dataflow'], rd_bw=rd_bw, rd_banks=rd_banks,
                          mode=case['mode'])
    cfg_path = os.path.join(d, 'cfg.cfg')
    with open(cfg_path, 'w') as f:
        f.write(cfg)
    topo_path = os.path.join(d, 'topo.csv')
    name = case['layer']
    if name in GEMMS:
        M, N, K = GEMMS[name]
        with open(topo_path, 'w') as f:
            f.write('Layer,M,N,K,\n%s,%d,%d,%d,\n' % (name, M, N, K))
        gemm = True
    else:
        H, W, R, S, C, F, s = CONVS[name]
        with open(topo_path, 'w') as f:
            f.write('Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, '
                    'Channels, Num Filter, Strides,\n')
            f.write('%s,%d,%d,%d,%d,%d,%d,%d,\n' % (name, H, W, R, S, C, F, s))
        gemm = False
    out = os.path.join(d, 'out')
    t0 = time.time()
    sim = scalesim(save_disk_space=True, verbose=False, config=cfg_path, topology=topo_path,
                   layout=LAYOUT, input_type_gemm=gemm)
    sim.run_scale(top_path=out)
    wall = time.time() - t0
    res = {}
    for rep, prefix in (('COMPUTE_REPORT.csv', ''), ('BANDWIDTH_REPORT.csv', 'bw_'),
                        ('DETAILED_ACCESS_REPORT.csv', 'acc_')):
        with open(os.path.join(out, 'run', rep)) as f:
            lines = [l.strip() for l in f if l.strip()]
        hdr = [h.strip() for h in lines[0].split(',') if h.strip()]
        vals = [v.strip() for v in lines[1].split(',')][:len(hdr)]
        for h, v in zip(hdr[1:], vals[1:], strict=False):
            res[prefix + h] = float(v)
    res['wall_s'] = round(wall, 2)
    return res


REN = {
    'Total Cycles (incl. prefetch)': 'total_cycles_incl_prefetch',
    'Total Cycles': 'compute_cycles',
    'Stall Cycles': 'stall_cycles',
    'Overall Util %': 'overall_util_pct',
    'Mapping Efficiency %': 'mapping_eff_pct',
    'Compute Util %': 'compute_util_pct',
}


def acc_name(h):
    return h.replace('acc_', '').replace(' ', '_').lower()


def main():
    import csv
    cases = make_cases()
    os.makedirs(RUN_ROOT, exist_ok=True)
    only = set(sys.argv[2:]) if len(sys.argv) > 2 and sys.argv[1] == '--ids' else None
    if only:
        cases = [c for c in cases if c['case_id'] in only]

    def worker(case):
        try:
            p = subprocess.run([VENV_PY, os.path.abspath(__file__), '--one', json.dumps(case)],
                               capture_output=True, text=True, timeout=120)
            line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
            if not line:
                return case, {'error': (p.stderr or p.stdout)[-300:].replace('\n', ' | ')}
            return case, json.loads(line[-1][7:])
        except subprocess.TimeoutExpired:
            return case, {'error': 'timeout'}

    rows = []
    with ThreadPoolExecutor(max_workers=2) as ex:
        for case, res in ex.map(worker, cases):
            print(case['case_id'], case['layer'], case['dataflow'], res.get('Stall Cycles'),
                  res.get('wall_s'), res.get('error', ''), flush=True)
            rows.append((case, res))

    ver = subprocess.run([VENV_PY, '-c', 'import importlib.metadata as m;'
                          'print(m.version("scalesim"), m.version("numpy"), m.version("pandas"))'],
                         capture_output=True, text=True).stdout.split()
    base_cols = ['case_id', 'dataflow', 'rows', 'cols', 'ifmap_kb', 'filter_kb', 'ofmap_kb',
                 'bandwidth_mode', 'bandwidth', 'ifmap_filter_dram_bw', 'word_bytes',
                 'layer_type', 'layer_name', 'M', 'N', 'K', 'H', 'W', 'R', 'S', 'C', 'filters',
                 'stride']
    rep_cols = list(REN.values())
    extra = []
    for _, res in rows:
        for k in res:
            if k.startswith('acc_') or k.startswith('bw_'):
                n = acc_name(k) if k.startswith('acc_') else k.replace(' ', '_').lower()
                if n not in extra:
                    extra.append(n)
    cols = base_cols + rep_cols + extra + ['scalesim_version', 'numpy_version', 'wall_s',
                                           'error']
    with open(OUT_CSV, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for case, res in sorted(rows, key=lambda x: x[0]['case_id']):
            r = {c: '' for c in cols}
            r.update(case_id=case['case_id'], dataflow=case['dataflow'], rows=case['rows'],
                     cols=case['cols'], ifmap_kb=case['ifmap_kb'], filter_kb=case['filter_kb'],
                     ofmap_kb=case['ofmap_kb'], bandwidth_mode=case['mode'],
                     word_bytes=1, layer_name=case['layer'])
            if case['mode'] == 'USER':
                r['bandwidth'] = case['bandwidth']
                r['ifmap_filter_dram_bw'] = case['rd_bw']
            else:  # CALC: fixed 10 words/cycle for ifmap/filter, ArrayWidth for ofmap
                r['bandwidth'] = ''
                r['ifmap_filter_dram_bw'] = 10
            if case['layer'] in GEMMS:
                r['layer_type'] = 'gemm'
                r['M'], r['N'], r['K'] = GEMMS[case['layer']]
            else:
                r['layer_type'] = 'conv'
                H, W_, R, S, C, F, s = CONVS[case['layer']]
                r.update(H=H, W=W_, R=R, S=S, C=C, filters=F, stride=s)
                oh = -(-(H - R + s) // s)
                ow = -(-(W_ - S + s) // s)
                r['M'], r['N'], r['K'] = oh * ow, F, R * S * C
            for k, v in res.items():
                if k in REN:
                    r[REN[k]] = v
                elif k.startswith('acc_'):
                    r[acc_name(k)] = v
                elif k.startswith('bw_'):
                    r[k.replace(' ', '_').lower()] = v
                elif k in ('wall_s', 'error'):
                    r[k] = v
            r['scalesim_version'] = ver[0] if ver else ''
            r['numpy_version'] = ver[1] if len(ver) > 1 else ''
            w.writerow(r)
    print('wrote', OUT_CSV, len(rows), 'rows')


if __name__ == '__main__' and len(sys.argv) > 1 and sys.argv[1] == '--one':
    r = run_one(json.loads(sys.argv[2]))
    print('RESULT ' + json.dumps(r))
    sys.exit(0)

if __name__ == '__main__' and not (len(sys.argv) > 1 and sys.argv[1] == '--one'):
    main()
