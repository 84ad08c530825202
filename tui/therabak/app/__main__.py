from therabak.app.main import main

raise SystemExit(main())
