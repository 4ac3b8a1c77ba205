set -e
for i in 1 2 3; do
  python -m bench.classifier --runs 300 > runs/bench96/cls80_$i.json
  python -m bench.classifier --runs 300 --weights runs/m96/classifier.pt > runs/bench96/cls96_$i.json
done
for i in 1 2; do
  python -m bench.pipeline --data ../shared/data/face-mask-detection --part test --runs 100 > runs/bench96/pipe80_$i.json
  python -m bench.pipeline --data ../shared/data/face-mask-detection --part test --runs 100 --model-dir runs/m96 > runs/bench96/pipe96_$i.json
done
echo done
