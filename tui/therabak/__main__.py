from therabak.cli import main

raise SystemExit(main())
