require "optparse"
require "securerandom"
require_relative "../version"
require_relative "../local_formation"

module MiddleManagement
  module LocalFormation
    # `middle_management local`: the Heroku formation API on 127.0.0.1 plus a
    # supervisor running the Procfile at the quantities set through it, until
    # Ctrl-C (or SIGTERM), which stops every process it started.
    class CLI
      USAGE_ERROR = 64 # EX_USAGE

      def self.start(argv, out: $stdout, err: $stderr, env: ENV) = new(out: out, err: err, env: env).run(argv)

      def initialize(out:, err:, env:)
        @out = out
        @err = err
        @env = env
      end

      # Returns the exit status.
      def run(argv)
        command, *rest = argv
        case command
        when "local" then local(rest)
        when "-v", "--version", "version" then say("middle_management #{VERSION}")
        when nil, "-h", "--help", "help" then say(usage)
        else fail_usage("unknown command #{command.inspect}")
        end
      end

      private

      def local(argv)
        options = parse_local(argv)
        return say(options) if options.is_a?(OptionParser)

        procfile = Procfile.load(options[:procfile])
        raise Procfile::Error, "#{procfile.path} defines no process types" if procfile.empty?

        (options[:formation].keys + options[:limits].keys).each { |type| procfile.command(type) }

        serve(procfile, options)
      rescue OptionParser::ParseError, Procfile::Error, ArgumentError => e
        fail_usage(e.message)
      rescue SystemCallError => e
        @err.puts("middle_management local: #{e.message}")
        1
      end

      def serve(procfile, options)
        token = options[:token] || @env["MIDDLE_MANAGEMENT_HEROKU_API_KEY"] || SecureRandom.hex(20)
        supervisor = Supervisor.new(procfile, grace: options[:grace], output: @out, web_port: options[:web_port],
                                              boot_delay: options[:boot_delay])
        page = LocalPage.new(app_file: options[:require])
        server = Server.new(app: options[:app], token: token, limits: options[:limits], supervisor: supervisor,
                            port: options[:port], web: page).start
        # The processes get the same settings, so an app started here scales itself here.
        supervisor.env = api_env(server)
        page.env = api_env(server)
        announce(server, procfile, options, token)
        options[:formation].each { |type, quantity| server.set_quantity(type, quantity) }
        wait_for_signal(server, supervisor)
        0
      ensure
        # An exception must not leave processes behind either.
        server&.stop
        supervisor&.stop_all
      end

      def parse_local(argv)
        options = { procfile: "Procfile", port: 5000, app: Server::DEFAULT_APP, token: nil,
                    grace: Supervisor::DEFAULT_GRACE, formation: {}, limits: {}, web_port: Supervisor::DEFAULT_WEB_PORT,
                    require: nil, boot_delay: 0 }
        parser = local_parser(options)
        parser.parse!(argv)
        return parser if options[:help]
        raise OptionParser::InvalidArgument, "unexpected #{argv.join(' ')}" unless argv.empty?

        options
      end

      def local_parser(options)
        OptionParser.new do |o|
          o.banner = "Usage: middle_management local [options]\n\n" \
                     "Runs the Procfile's processes at the quantities set through a local copy of Heroku's\n" \
                     "formation API, so Middle Management can scale them as it scales dynos.\n\n"
          o.on("--procfile PATH", "Procfile to run (default: ./Procfile)") { |v| options[:procfile] = v }
          o.on("--port PORT", Integer, "API port on 127.0.0.1 (default: 5000; 0 picks a free one)") { |v| options[:port] = v }
          o.on("--app NAME", "App name the API answers for (default: local)") { |v| options[:app] = v }
          o.on("--token TOKEN", "API token to accept (default: $MIDDLE_MANAGEMENT_HEROKU_API_KEY, else a new one)") do |v|
            options[:token] = v
          end
          o.on("--grace SECONDS", Float, "Seconds from SIGTERM to SIGKILL (default: 30, as on Heroku)") { |v| options[:grace] = v }
          o.on("--boot-delay SECONDS", Float, "Seconds a new dyno takes to start, as Heroku's boot (default: 0)") do |v|
            raise OptionParser::InvalidArgument, "--boot-delay #{v}: must be from 0 to 600" unless v.between?(0, 600)

            options[:boot_delay] = v
          end
          o.on("--formation TYPE=N,...", "Initial quantities (default: every type at 0)") { |v| options[:formation] = pairs(v) }
          o.on("--limits TYPE=N,...", "Cap types like Eco/Basic dynos (e.g. worker1=1)") { |v| options[:limits] = pairs(v) }
          o.on("--web-port PORT", Integer, "PORT of web.1 (default: 5100)") { |v| options[:web_port] = v }
          o.on("--require FILE", "Load the app (e.g. config/environment.rb) so the page at /middle_management " \
                                 "shows its history") { |v| options[:require] = v }
          o.on("-h", "--help", "Show this help") { options[:help] = true }
        end
      end

      def pairs(text)
        text.split(",").to_h do |pair|
          type, quantity = pair.split("=", 2)
          raise OptionParser::InvalidArgument, pair unless quantity&.match?(/\A\d+\z/)

          [type.strip, Integer(quantity, 10)]
        end
      end

      def api_env(server)
        { "MIDDLE_MANAGEMENT_HEROKU_API_URL" => server.url, "MIDDLE_MANAGEMENT_HEROKU_APP" => server.app,
          "MIDDLE_MANAGEMENT_HEROKU_API_KEY" => server.token }
      end

      def announce(server, procfile, options, token)
        # A token the user supplied may be a real Heroku token: never print it.
        shown = if options[:token] then "<the --token value>"
                elsif @env["MIDDLE_MANAGEMENT_HEROKU_API_KEY"] then '"$MIDDLE_MANAGEMENT_HEROKU_API_KEY"'
                else token
                end
        @out.puts(<<~TEXT)
          middle_management local: Heroku's formation API for app #{server.app} on #{server.url}
          running #{procfile.path} (#{procfile.types.join(', ')}), #{options[:grace]}s from SIGTERM to SIGKILL
          Point an app at it (the processes started here already are):
            MIDDLE_MANAGEMENT_HEROKU_API_URL=#{server.url} MIDDLE_MANAGEMENT_HEROKU_APP=#{server.app} MIDDLE_MANAGEMENT_HEROKU_API_KEY=#{shown}
          Scale by hand, with Heroku's CLI or curl:
            HEROKU_HOST=#{server.url} HEROKU_API_KEY=#{shown} heroku ps:scale #{procfile.types.first}=1 -a #{server.app}
            curl -X PATCH #{server.url}/apps/#{server.app}/formation/#{procfile.types.first} -H 'Accept: #{RequestValidation::ACCEPT}' \\
              -H 'Content-Type: application/json' -H "Authorization: Bearer $MIDDLE_MANAGEMENT_HEROKU_API_KEY" -d '{"quantity": 1}'
          The page (open here without credentials: this machine only): #{server.page_url}
          Ctrl-C stops every process.
        TEXT
        @out.flush
      end

      # Trap handlers may not take locks, so they only write to a pipe; the
      # main thread does the stopping. A second signal skips the grace period.
      def wait_for_signal(server, supervisor)
        reader, writer = IO.pipe
        previous = %w[INT TERM].to_h { |name| [name, trap(name) { writer.write_nonblock(name, exception: false) }] }
        reader.wait_readable
        reader.read_nonblock(16)
        stopper = Thread.new { server.stop }
        until stopper.join(0.1)
          supervisor.stop_all(grace: 0) if reader.read_nonblock(16, exception: false).is_a?(String)
        end
      ensure
        previous&.each { |name, handler| trap(name, handler || "DEFAULT") }
        [reader, writer].each { |io| io&.close }
      end

      def usage
        <<~TEXT
          Usage: middle_management COMMAND [options]

          Commands:
            local      Run a Procfile under a local copy of Heroku's formation API
                       (middle_management local --help for its options)
            version    Print the version
        TEXT
      end

      def say(text)
        @out.puts(text)
        0
      end

      def fail_usage(message)
        @err.puts("middle_management: #{message}")
        @err.puts("Try middle_management --help")
        USAGE_ERROR
      end
    end
  end
end
