from mmdiff.bench import main

raise SystemExit(main())
