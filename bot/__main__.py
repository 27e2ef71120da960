from bot.run.cli import main

raise SystemExit(main())
