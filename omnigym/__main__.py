from omnigym.cli import main

raise SystemExit(main())
