#!/usr/bin/python3
"""Disk-full campaign (issue 14): every flashmc writer on a 64 KiB tmpfs (256 KiB for train, whose
checkpoint is 66 KiB) at several fill levels, each over a previous good file; then sweeps and
training runs killed (SIGKILL) at random moments and resumed. Counts crashes, corrupt new files,
lost previous files, stale temporaries, runs without exactly one error line; the resumed results
must equal an uninterrupted run bit for bit. Needs root (mount) and Debian's python3-h5py.
usage: sudo scripts/disk-full-campaign.py build/release/flashmc /tmp/dfc-work   (a new directory)"""
import os, sys, subprocess, shutil, random, re, signal, time, glob
import numpy as np, h5py  # Debian: python3-numpy python3-h5py

BIN, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D, G, M = f'{WORK}/data', f'{WORK}/good', f'{WORK}/mnt'
CARD = f'{SRC}/devices/nor40_cim.toml'
TILE = f'{SRC}/examples/array-solve/tile.toml'
if os.path.exists(WORK): sys.exit(f'{WORK} exists: give a new directory')
for d in (D, G, M): os.makedirs(d)

def run(args, timeout=600, prefix=''):
    p = subprocess.run(prefix + BIN + ' ' + args, shell=True, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr

def must(args):
    rc, out = run(args)
    if rc not in (0, 3): sys.exit(f'setup failed: {args}\n{out}')

# Synthetic CIFAR-format data: 200 records per file.
rng = np.random.default_rng(1)
for name in [f'data_batch_{i}.bin' for i in range(1, 6)] + ['test_batch.bin']:
    labels = rng.integers(0, 10, 200, dtype=np.uint8)
    rec = np.empty((200, 3073), np.uint8)
    rec[:, 0] = labels
    rec[:, 1:] = (rng.integers(0, 60, (200, 3072)) + labels[:, None] * 20).astype(np.uint8)
    rec.tofile(f'{D}/{name}')

TRAIN = f'train --model tiny --epochs 1 --batch 50 --lr 0.05 --data {D} --threads 2 --quiet --test-limit 100 --train-limit 200'
must(f'{TRAIN} --out {G}/fp.h5 --checkpoint {G}/fp.ckpt')
os.makedirs(f'{G}/mid')
must(f'{TRAIN} --out {G}/mid/fp.h5 --checkpoint {G}/mid/fp.ckpt --stop-after-steps 2')
must(f'train --init {G}/fp.h5 --quant w4a4 --epochs 1 --batch 50 --lr 0.01 --data {D} --threads 2 --quiet --test-limit 100 --train-limit 200 --out {G}/q.h5 --checkpoint {G}/q.ckpt')
SWEEP = (f'sweep {SRC}/experiments/test_tiny.toml --quiet --checkpoint-s 0 --set model.file={G}/q.h5 '
         f'--set data.dir={D} --set device.card={CARD}')
must(f'{SWEEP} --threads 2 --out {G}/a.h5')
must(f'{SWEEP} --threads 1 --stop-after-units 3 --out {G}/p.h5')
must(f'merge {G}/a.h5 -o {G}/m.h5')
CELLS = f'cells --device {CARD} --level 3 --count 150 --out'
must(f'{CELLS} {G}/c.csv')
must(f'{CELLS} {G}/c.h5')
must(f'array-solve --tile {TILE} --out {G}/i.csv')
EVAL = f'eval --model {G}/q.h5 --data {D} --limit 100 --threads 2 --predictions'
must(f'{EVAL} {G}/e.csv')
shutil.copy(f'{G}/mid/fp.ckpt', f'{G}/mid.ckpt')
shutil.copy(f'{G}/mid/fp.csv', f'{G}/mid.csv')
sizes = {f: os.path.getsize(f'{G}/{f}') for f in os.listdir(G) if os.path.isfile(f'{G}/{f}')}
print('good file sizes (bytes):', sizes)

# writer: (command with {M}, {target: prior file in G or None})
WRITERS = {
    'train-stop':   (f'{TRAIN} --out {{M}}/fp.h5 --checkpoint {{M}}/fp.ckpt --stop-after-steps 2', {'fp.ckpt': 'fp.ckpt', 'fp.csv': 'fp.csv'}),
    'train-full':   (f'{TRAIN} --out {{M}}/fp.h5 --checkpoint {{M}}/fp.ckpt', {'fp.h5': 'fp.h5', 'fp.ckpt': 'fp.ckpt', 'fp.csv': 'fp.csv'}),
    'train-resume': (f'{TRAIN} --out {{M}}/fp.h5 --checkpoint {{M}}/fp.ckpt --resume', {'fp.h5': 'fp.h5', 'fp.ckpt': 'mid.ckpt', 'fp.csv': 'mid.csv'}),
    'sweep-fresh':  (f'{SWEEP} --threads 2 --out {{M}}/a.h5', {'a.h5': 'a.h5'}),
    'sweep-resume': (f'{SWEEP} --threads 2 --resume --out {{M}}/p.h5', {'p.h5': 'p.h5'}),
    'merge':        (f'merge {G}/a.h5 -o {{M}}/m.h5', {'m.h5': 'm.h5'}),
    'cells-csv':    (f'{CELLS} {{M}}/c.csv', {'c.csv': 'c.csv'}),
    'cells-h5':     (f'{CELLS} {{M}}/c.h5', {'c.h5': 'c.h5'}),
    'array-solve':  (f'array-solve --tile {TILE} --out {{M}}/i.csv', {'i.csv': 'i.csv'}),
    'eval-predictions': (f'{EVAL} {{M}}/e.csv', {'e.csv': 'e.csv'}),
}
LEVELS = [0, 2048, 4096, 8192, 12288, 16384, 24576, 32768, 49152, None]  # bytes left free; None: no filler

def valid(path):
    """'' if the file is a complete, self-consistent output, else why not."""
    name = os.path.basename(path)
    try:
        if name.endswith('.csv'):
            text = open(path, 'rb').read().decode()
            if not text.endswith('\n'): return 'no final newline'
            lines = text.splitlines()
            n = lines[0].count(',')
            if any(l.count(',') != n for l in lines): return 'ragged rows'
            if name == 'c.csv' and len(lines) != 151: return f'{len(lines)} lines'
            if name == 'i.csv' and len(lines) != 5: return f'{len(lines)} lines'
            if name == 'e.csv' and len(lines) != 101: return f'{len(lines)} lines'
            if name == 'fp.csv' and not lines[0].startswith('epoch,'): return 'bad header'
            return ''
        with h5py.File(path, 'r') as f:
            def visit(_, obj):
                if isinstance(obj, h5py.Dataset): obj[()]
            f.visititems(visit)
            ft = f.attrs['filetype']
            ft = ft.decode() if isinstance(ft, bytes) else ft
            if ft == 'flashmc.sweep':
                done, acc = f['done'][()], f['accuracy'][()]
                if int(f.attrs['units_done']) != int(done.sum()): return 'units_done != sum(done)'
                if (acc[done == 1] <= 0).any() or not np.isfinite(acc[done == 1]).all(): return 'done unit with bad accuracy'
                if int(f.attrs['complete']) and not done.all(): return 'complete=1 but not all done'
                if (f['predictions'][()].reshape(done.size, -1)[done.reshape(-1) == 1] < 0).any(): return 'done unit without predictions'
            elif ft not in ('flashmc.model', 'flashmc.checkpoint', 'flashmc.cells'):
                return f'filetype {ft}'
        return ''
    except Exception as e:
        return f'{type(e).__name__}: {e}'

def mount(size):
    subprocess.run(['umount', M], capture_output=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', M], check=True)

def fill(leave):
    with open(f'{M}/filler', 'wb', buffering=0) as f:
        try:
            while True: f.write(b'\0' * 4096)
        except OSError:
            pass
        f.truncate(max(0, f.tell() - leave))

totals = dict(runs=0, succeeded=0, refused=0, crashes=0, internal_errors=0, bad_error_lines=0, corrupt=0, lost=0,
              changed_valid=0, stale_temporaries=0, wrote_on_failure=0, prior_did_not_fit=0)
problems = []
PLAN = [(w, '64k', LEVELS) for w in WRITERS] + [(w, '256k', LEVELS + [65536, 81920, 98304, 114688])
                                                 for w in WRITERS if w.startswith('train')]
for wname, size, levels in PLAN:
    cmd, targets = WRITERS[wname]
    for leave in levels:
        mount(size)
        before = {}
        for t, prior in targets.items():
            try:
                shutil.copy(f'{G}/{prior}', f'{M}/{t}')
                before[t] = open(f'{M}/{t}', 'rb').read()
            except OSError:
                totals['prior_did_not_fit'] += 1
                if os.path.exists(f'{M}/{t}'): os.remove(f'{M}/{t}')
        if leave is not None: fill(leave)
        rc, out = run(cmd.replace('{M}', M))
        totals['runs'] += 1
        tag = f'{wname} tmpfs={size} free={leave} rc={rc}'
        if rc < 0 or rc >= 128 or 'Segmentation' in out:
            totals['crashes'] += 1; problems.append(f'{tag}: CRASH\n{out[-400:]}')
        if rc == 3 or 'internal error' in out:
            totals['internal_errors'] += 1; problems.append(f'{tag}: internal error: {out[-300:]}')
        errors = [l for l in out.splitlines() if 'error:' in l]
        if rc != 0:
            totals['refused'] += 1
            if len(errors) != 1:
                totals['bad_error_lines'] += 1; problems.append(f'{tag}: {len(errors)} error lines\n{out[-400:]}')
            if re.search(r'^\s*wrote', out, re.M):
                totals['wrote_on_failure'] += 1; problems.append(f'{tag}: printed wrote')
        else:
            totals['succeeded'] += 1
        for t in targets:
            p = f'{M}/{t}'
            exists = os.path.exists(p)
            if exists and open(p, 'rb').read() == before.get(t):
                continue  # untouched
            why = valid(p) if exists else 'missing'
            if t in before:
                if why:
                    totals['lost'] += 1; problems.append(f'{tag}: {t}: previous good file lost ({why})')
                else:
                    totals['changed_valid'] += 1
            elif exists and why:
                totals['corrupt'] += 1; problems.append(f'{tag}: {t}: corrupt new file ({why})')
        stale = [f for f in os.listdir(M) if '.tmp' in f]
        totals['stale_temporaries'] += len(stale)
        if stale: problems.append(f'{tag}: temporaries left: {stale}')
        errline = errors[0].strip() if errors else ''
        print(f'{tag:46s} {errline[:150]}')
subprocess.run(['umount', M])

# kill -9 at random moments, then resume: the result must equal an uninterrupted run.
random.seed(3)
kills = dict(temporaries_seen_after_a_kill=0, sweep_kills=0, train_kills=0, resume_failures=0, kill_stale_left=0, kill_mismatch=0)
ref = h5py.File(f'{G}/a.h5', 'r'); ref_acc = ref['accuracy'][()]; ref_pred = ref['predictions'][()]; ref.close()
K = f'{WORK}/kill'
os.makedirs(K)
for i in range(16):
    out_file = f'{K}/k{i}.h5'
    for k in range(3):  # up to three kills of the same sweep
        p = subprocess.Popen(f'exec {BIN} {SWEEP} --threads 2 --resume --out {out_file}', shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0.05, 0.8))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL); kills['sweep_kills'] += 1
        p.wait()
        kills['temporaries_seen_after_a_kill'] += len([f for f in os.listdir(K) if '.tmp' in f])
    rc, out = run(f'{SWEEP} --threads 2 --resume --out {out_file}')
    if rc != 0: kills['resume_failures'] += 1; problems.append(f'kill sweep {i}: resume rc={rc} {out[-300:]}')
    with h5py.File(out_file, 'r') as f:
        if not (np.array_equal(f['accuracy'][()], ref_acc) and np.array_equal(f['predictions'][()], ref_pred)):
            kills['kill_mismatch'] += 1; problems.append(f'kill sweep {i}: differs from the uninterrupted run')
    kills['kill_stale_left'] += len([f for f in os.listdir(K) if '.tmp' in f])
TRAIN_CK = TRAIN.replace('--epochs 1', '--epochs 2') + ' --checkpoint-every 1'
must(f'{TRAIN_CK} --out {K}/ref.h5 --checkpoint {K}/ref.ckpt')
for i in range(8):
    for k in range(3):
        p = subprocess.Popen(f'exec {BIN} {TRAIN_CK} --out {K}/t{i}.h5 --checkpoint {K}/t{i}.ckpt --resume', shell=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0.1, 1.5))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL); kills['train_kills'] += 1
        p.wait()
        kills['temporaries_seen_after_a_kill'] += len([f for f in os.listdir(K) if '.tmp' in f])
    rc, out = run(f'{TRAIN_CK} --out {K}/t{i}.h5 --checkpoint {K}/t{i}.ckpt --resume')
    if rc != 0: kills['resume_failures'] += 1; problems.append(f'kill train {i}: resume rc={rc} {out[-300:]}')
    why = valid(f'{K}/t{i}.h5')
    if why: kills['kill_mismatch'] += 1; problems.append(f'kill train {i}: {why}')
    with h5py.File(f'{K}/t{i}.h5', 'r') as a, h5py.File(f'{K}/ref.h5', 'r') as b:
        same = True
        def cmp(name, obj):
            global same
            if isinstance(obj, h5py.Dataset) and not np.array_equal(obj[()], b[name][()]): same = False
        a.visititems(cmp)
        if not same: kills['kill_mismatch'] += 1; problems.append(f'kill train {i}: weights differ from the uninterrupted run')
    kills['kill_stale_left'] += len([f for f in os.listdir(K) if '.tmp' in f])

print('\nTOTALS', totals)
print('KILL -9', kills)
print('\nPROBLEMS (%d):' % len(problems))
for p in problems: print(' -', p)
