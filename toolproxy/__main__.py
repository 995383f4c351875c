from toolproxy.cli import main

raise SystemExit(main())
