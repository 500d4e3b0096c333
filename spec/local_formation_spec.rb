require "net/http"
require "rbconfig"
require "stringio"
require "tmpdir"
require "middle_management/local_formation"

RSpec.describe MiddleManagement::LocalFormation do
  accept = "application/vnd.heroku+json; version=3"
  uuid = /\A\h{8}-\h{4}-\h{4}-\h{4}-\h{12}\z/

  def alive?(pid)
    Process.kill(0, pid)
    true
  rescue Errno::ESRCH
    false
  end

  # Alive and not a zombie: an orphan that exited waits as a zombie until
  # init reaps it, which is not ours to wait for.
  def running?(pid)
    File.read("/proc/#{pid}/stat").rpartition(")").last.split.first != "Z"
  rescue Errno::ENOENT, Errno::ESRCH
    false
  end

  describe MiddleManagement::LocalFormation::Server do
    let(:token) { "secret-token-42" }
    let(:heroku) do
      FakeHeroku.start(app: "example", token: token, formation: { "web" => 1, "worker" => 0, "worker1" => 0 },
                       limits: { "worker1" => 1 })
    end
    let(:headers) do
      { "Accept" => accept, "Authorization" => "Bearer #{token}", "Content-Type" => "application/json",
        "User-Agent" => "middle_management-spec" }
    end

    def call(method, path, body: nil, headers: self.headers, read_timeout: 5)
      request = Net::HTTP.const_get(method.capitalize).new(path, headers)
      request.body = body.is_a?(String) ? body : JSON.generate(body) unless body.nil?
      http = Net::HTTP.new("127.0.0.1", heroku.port)
      http.read_timeout = read_timeout
      http.max_retries = 0 # Net::HTTP would resend a dropped GET and hide the fault
      http.start { http.request(request) }
    end

    def error_of(response) = [response.code.to_i, JSON.parse(response.body)]

    it "lists the formation in the schema's shape" do
      response = call(:get, "/apps/example/formation")

      expect(response.code).to eq("200")
      expect(response["Content-Type"]).to start_with("application/json")
      # In id order, as Heroku lists by default.
      list = JSON.parse(response.body)
      expect(list.map { |process| process["id"] }).to eq(list.map { |process| process["id"] }.sort)
      list.sort_by! { |process| process["type"] }
      expect(list.map { |process| [process["type"], process["quantity"]] }).to eq([["web", 1], ["worker", 0], ["worker1", 0]])
      web = list.first
      expect(web.keys).to contain_exactly("app", "command", "created_at", "dyno_size", "id", "quantity", "size", "type", "updated_at")
      expect(web["app"]).to eq("id" => heroku.app_id, "name" => "example")
      expect(web["id"]).to match(uuid)
      expect(web["dyno_size"]).to match("id" => uuid, "name" => "Standard-1X")
      expect(web["created_at"]).to match(/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\z/)
    end

    it "finds a process type by name or formation id, in an app named by name or id" do
      id = JSON.parse(call(:get, "/apps/example/formation/worker").body).fetch("id")

      response = call(:get, "/apps/#{heroku.app_id}/formation/#{id}")

      expect(response.code).to eq("200")
      expect(JSON.parse(response.body)).to include("type" => "worker", "quantity" => 0)
    end

    it "scales with a Bearer token, and records the request" do
      response = call(:patch, "/apps/example/formation/worker", body: { "quantity" => 3 })

      expect(response.code).to eq("200")
      expect(JSON.parse(response.body)).to include("type" => "worker", "quantity" => 3)
      expect(heroku.quantity("worker")).to eq(3)
      patch = heroku.patches.last
      expect([patch.method, patch.path, patch.json]).to eq(["PATCH", "/apps/example/formation/worker", { "quantity" => 3 }])
      expect(patch.header("User-Agent")).to eq("middle_management-spec")
      expect(patch.at).to be_a(Time)
      expect(patch.status).to eq(200)
    end

    it "scales with HTTP Basic, any username, the token as password" do
      basic = headers.merge("Authorization" => "Basic #{["anyone@example.com:#{token}"].pack('m0')}")

      response = call(:patch, "/apps/example/formation/worker", body: { "quantity" => 2 }, headers: basic)

      expect(response.code).to eq("200")
      expect(heroku.quantity("worker")).to eq(2)
    end

    it "accepts a size change, as dyno_size or the deprecated size" do
      call(:patch, "/apps/example/formation/worker", body: { "quantity" => 1, "dyno_size" => { "name" => "Standard-2X" } })
      response = call(:patch, "/apps/example/formation/web", body: { "size" => "Performance-M" })

      expect(JSON.parse(response.body)).to include("size" => "Performance-M", "quantity" => 1)
      expect(JSON.parse(call(:get, "/apps/example/formation/worker").body)["dyno_size"]["name"]).to eq("Standard-2X")
    end

    it "updates several types at once" do
      body = { "updates" => [{ "type" => "worker", "quantity" => 4 }, { "type" => "web", "quantity" => 0 }] }

      response = call(:patch, "/apps/example/formation", body: body)

      expect(response.code).to eq("200")
      expect(JSON.parse(response.body).map { |process| [process["type"], process["quantity"]] }).to eq([["worker", 4], ["web", 0]])
      expect(heroku.quantities).to eq("web" => 0, "worker" => 4, "worker1" => 0)
    end

    it "applies a batch that breaks a limit not at all" do
      body = { "updates" => [{ "type" => "worker", "quantity" => 4 }, { "type" => "worker1", "quantity" => 2 }] }

      expect(call(:patch, "/apps/example/formation", body: body).code).to eq("422")
      expect(heroku.quantities).to eq("web" => 1, "worker" => 0, "worker1" => 0)
    end

    describe "rejecting what Heroku rejects" do
      invalid = ->(message) { [422, { "id" => "invalid_params", "message" => message }] }
      cases = {
        "no API version" => [{ headers: { "Accept" => "application/json" } }, 400, "bad_request"],
        "the version without Heroku's MIME type" => [{ headers: { "Accept" => "version=3" } }, 400, "bad_request"],
        "a wrong token" => [{ headers: { "Authorization" => "Bearer nope" } }, 401, "unauthorized"],
        "a wrong Basic password" => [{ headers: { "Authorization" => "Basic #{['me:nope'].pack('m0')}" } }, 401, "unauthorized"],
        "no credentials" => [{ headers: { "Authorization" => "" } }, 401, "unauthorized"],
        "a body that is not JSON" => [{ body: "{quantity: 1" }, 400, "bad_request"],
        "a body sent as a form" => [{ headers: { "Content-Type" => "application/x-www-form-urlencoded" } }, 400, "bad_request"]
      }
      cases.each do |what, (request, status, id)|
        it "answers #{status} #{id} to #{what}" do
          response = call(:patch, "/apps/example/formation/worker", body: request.fetch(:body, { "quantity" => 1 }),
                                                                    headers: headers.merge(request.fetch(:headers, {})))

          expect(response.code.to_i).to eq(status)
          expect(JSON.parse(response.body)["id"]).to eq(id)
          expect(heroku.quantity("worker")).to eq(0)
        end
      end

      it "answers Heroku's messages for credentials, apps and process types" do
        expect(error_of(call(:get, "/apps/example/formation", headers: headers.merge("Authorization" => "Bearer x"))))
          .to eq([401, { "id" => "unauthorized", "message" => "Invalid credentials provided." }])
        expect(error_of(call(:patch, "/apps/elsewhere/formation/worker", body: { "quantity" => 1 })))
          .to eq([404, { "id" => "not_found", "message" => "Couldn't find that app." }])
        expect(error_of(call(:patch, "/apps/example/formation/clock", body: { "quantity" => 1 })))
          .to eq([404, { "id" => "not_found", "message" => "Couldn't find that process type (clock)." }])
        expect(error_of(call(:get, "/apps/example/formation/clock")))
          .to eq([404, { "id" => "not_found", "message" => "Couldn't find that process type (clock)." }])
        expect(error_of(call(:get, "/apps/example/releases")).first(1)).to eq([404])
      end

      it "answers 403 to credentials that are valid but not for this app" do
        heroku = FakeHeroku.start(app: "example", token: token, forbidden_tokens: ["colleague"])
        request = Net::HTTP::Get.new("/apps/example/formation", headers.merge("Authorization" => "Bearer colleague"))

        response = Net::HTTP.start("127.0.0.1", heroku.port) { |http| http.request(request) }

        expect(error_of(response)).to eq([403, { "id" => "forbidden", "message" => "You do not have access to the app example." }])
      end

      it "answers invalid_params to quantities that are neither non-negative integers nor their strings, and to extra keys" do
        ["two", "1.5", "", "+", "=2", 1.5, -1, nil, true].each do |quantity|
          expect(error_of(call(:patch, "/apps/example/formation/worker", body: { "quantity" => quantity })))
            .to eq(invalid.("Invalid params: `quantity` must be a non-negative integer (or a string: \"3\", \"+1\", \"-1\")."))
        end
        expect(error_of(call(:patch, "/apps/example/formation/worker", body: { "quantity" => 1, "command" => "x" })))
          .to eq(invalid.("Invalid params: unexpected property `command`."))
        expect(error_of(call(:patch, "/apps/example/formation/worker", body: {})).first).to eq(422)
        expect(heroku.quantity("worker")).to eq(0)
      end

      it "answers invalid_params to a batch without updates, with extra keys, or an update without a type" do
        [{}, { "updates" => {} }, { "updates" => [], "force" => true },
         { "updates" => [{ "type" => "worker", "quantity" => 1, "app" => "example" }] },
         { "updates" => [{ "quantity" => 1 }] }, { "updates" => [{ "type" => "a b", "quantity" => 1 }] }].each do |body|
          response = call(:patch, "/apps/example/formation", body: body)

          expect(error_of(response)).to match([422, { "id" => "invalid_params", "message" => /\AInvalid params: / }])
        end
        expect(heroku.quantity("worker")).to eq(0)
      end

      it "refuses more than the limit of an Eco type, with Heroku's message" do
        expect(call(:patch, "/apps/example/formation/worker1", body: { "quantity" => 1 }).code).to eq("200")

        response = call(:patch, "/apps/example/formation/worker1", body: { "quantity" => 2 })

        expect(error_of(response)).to eq([422, { "id" => "cannot_update_above_limit", "limit" => 1,
                                                 "message" => "Cannot update to more than 1 Eco size dynos per process type." }])
        expect(heroku.quantity("worker1")).to eq(1)
      end
    end

    it "counts RateLimit-Remaining down on every response, errors included, and answers 429 at zero" do
      first = call(:get, "/apps/example/formation")
      second = call(:get, "/apps/nope/formation")
      expect([first["RateLimit-Remaining"], second["RateLimit-Remaining"]]).to eq(%w[4499 4498])

      heroku.rate_limit_remaining = 1
      expect(call(:get, "/apps/example/formation")["RateLimit-Remaining"]).to eq("0")
      limited = call(:patch, "/apps/example/formation/worker", body: { "quantity" => 1 })

      expect(limited["RateLimit-Remaining"]).to eq("0")
      expect(error_of(limited)).to eq([429, { "id" => "rate_limit", "message" =>
        "Your account reached the API rate limit\nPlease wait a few minutes before making new requests" }])
      expect(heroku.quantity("worker")).to eq(0)
    end

    describe "fault injection" do
      it "fails the next requests with a given status and body, then recovers" do
        heroku.fail_next(2, status: 503, id: "unavailable", message: "Heroku is down")

        statuses = 3.times.map { call(:patch, "/apps/example/formation/worker", body: { "quantity" => 2 }) }

        expect(error_of(statuses[0])).to eq([503, { "id" => "unavailable", "message" => "Heroku is down" }])
        expect(statuses.map(&:code)).to eq(%w[503 503 200])
        expect(heroku.pending_faults).to eq(0)
      end

      it "rate-limits the next requests whatever the counter says" do
        heroku.rate_limit_next(1)

        response = call(:get, "/apps/example/formation")

        expect([response.code, response["RateLimit-Remaining"], JSON.parse(response.body)["id"]]).to eq(%w[429 0 rate_limit])
        expect(call(:get, "/apps/example/formation").code).to eq("200")
      end

      it "answers 200 with a body that is not JSON" do
        heroku.malformed_next(1)

        response = call(:patch, "/apps/example/formation/worker", body: { "quantity" => 1 })

        expect(response.code).to eq("200")
        expect { JSON.parse(response.body) }.to raise_error(JSON::ParserError)
        expect(heroku.quantity("worker")).to eq(0)
      end

      it "delays responses, after applying them" do
        heroku.delay(0.3)
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)

        call(:patch, "/apps/example/formation/worker", body: { "quantity" => 1 })

        expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).to be >= 0.3
        expect(heroku.quantity("worker")).to eq(1)
      end

      it "hangs until stopped, then drops the connection" do
        heroku.hang!
        client = Thread.new { call(:get, "/apps/example/formation", read_timeout: 30) }
        client.report_on_exception = false

        expect(heroku.wait_for_requests(1)).to be(true)
        expect(client.join(0.2)).to be_nil
        heroku.stop

        expect { join_within(client, "the hung request to end") }.to raise_error(EOFError)
        expect(heroku.requests.last.status).to be_nil
      end

      it "drops connections without an answer" do
        heroku.drop_next(1)

        expect { call(:get, "/apps/example/formation") }.to raise_error(EOFError)
        expect(call(:get, "/apps/example/formation").code).to eq("200")
      end
    end

    it "refuses connections once stopped, and knows a port where nothing listens" do
      heroku.stop
      closed = URI(described_class.closed_port_url)

      expect { Net::HTTP.get_response(closed) }.to raise_error(Errno::ECONNREFUSED)
      expect { call(:get, "/apps/example/formation") }.to raise_error(Errno::ECONNREFUSED)
    end

    it "lets a spec wait for requests and quantities" do
      waiter = Thread.new { heroku.wait_for_quantity("worker", 5) }
      call(:patch, "/apps/example/formation", body: { "updates" => [{ "type" => "worker", "quantity" => 5 }] })

      expect(join_within(waiter, "the waiter")).to be(true)
      expect(heroku.wait_for_patches(1, timeout: 1)).to be(true)
      expect(heroku.wait_for_patches(2, timeout: 0.05)).to be(false)
      expect(heroku.formation.history.map { |change| [change.type, change.from, change.to] }).to eq([["worker", 0, 5]])
    end
  end

  # Tiny dynos that leave evidence in `dir`: their pid and environment as
  # they start, and "TERM" when they receive SIGTERM.
  def write_dynos(dir)
    File.write(File.join(dir, "dyno.rb"), <<~RUBY)
      evidence = File.join(ENV.fetch("EVIDENCE"), ENV.fetch("DYNO"))
      File.write(evidence + ".port", ENV.fetch("PORT", "none"))
      File.write(evidence + ".api", ENV.fetch("MIDDLE_MANAGEMENT_HEROKU_API_URL", "none"))
      # Last: a spec that has waited for the pid (pid_of) may read the rest at once.
      File.write(evidence + ".pid", Process.pid.to_s)
      trap("TERM") do
        File.write(evidence + ".term", "TERM")
        exit unless ARGV.include?("--ignore-term")
      end
      if ARGV.include?("--fork")
        child = fork { trap("TERM") {}; sleep }
        File.write(evidence + ".child", child.to_s)
      end
      sleep
    RUBY
    File.write(File.join(dir, "Procfile"), <<~PROCFILE)
      # comments and blank lines are ignored, as by foreman

      worker: ruby --disable-gems dyno.rb
      stubborn: ruby --disable-gems dyno.rb --ignore-term
      forker: ruby --disable-gems dyno.rb --fork --ignore-term
      crasher: ruby --disable-gems -e 'puts "crashing"; exit 3'
      web: ruby --disable-gems dyno.rb
    PROCFILE
    File.join(dir, "Procfile")
  end

  # nil until written: a dyno may be between creating the file and writing it.
  def evidence(name, kind)
    path = File.join(@dir, "#{name}.#{kind}")
    text = File.exist?(path) ? File.read(path) : ""
    text.empty? ? nil : text
  end

  def pid_of(name) = await("#{name} to start") { evidence(name, "pid") }.to_i

  # After a failed example: kills the dynos a program started (their own
  # process groups, so stopping the program's group leaves them).
  def stop_leftovers(*dynos)
    dynos.compact.each { |pid| Process.kill("KILL", pid) if running?(pid) }
  rescue Errno::ESRCH
    nil
  end

  describe MiddleManagement::LocalFormation::Procfile do
    it "reads type: command lines and ignores comments and blank lines" do
      procfile = described_class.parse("# web: no\n\nweb: bundle exec puma -p $PORT\nworker:   rake jobs:work\n", path: "/app/Procfile")

      expect(procfile.to_h).to eq("web" => "bundle exec puma -p $PORT", "worker" => "rake jobs:work")
      expect(procfile.dir).to eq("/app")
    end

    it "refuses a process type defined twice" do
      expect { described_class.parse("worker: a\nworker: b\n") }.to raise_error(described_class::Error, /defined twice/)
    end
  end

  describe MiddleManagement::LocalFormation::Supervisor do
    around do |example|
      Dir.mktmpdir("local-formation") do |dir|
        @dir = dir
        example.run
      end
    end

    let(:output) { StringIO.new }
    let(:supervisor) do
      described_class.new(write_dynos(@dir), grace: 0.5, output: output, env: { "EVIDENCE" => @dir }, restart_delay: 0.05)
    end

    after { supervisor.stop_all(grace: 0) }

    it "keeps the quantity running, numbered type.1..N, with DYNO and, for web, PORT" do
      supervisor.scale("worker", 3)
      supervisor.scale("web", 2)

      pids = %w[worker.1 worker.2 worker.3 web.1 web.2].map { |name| pid_of(name) }
      expect(pids).to all(satisfy { |pid| alive?(pid) })
      expect(supervisor.running("worker")).to eq(3)
      expect(supervisor.pids.sort).to eq(pids.sort)
      expect(evidence("web.2", "port")).to eq((described_class::DEFAULT_WEB_PORT + 1).to_s)
      expect(evidence("worker.1", "port")).to eq("none")
      expect(output.string).to match(/worker\.3 +\| started with pid #{pids[2]}/)
    end

    it "starts a new dyno after its boot delay, listing it as starting meanwhile, and not a later-cancelled one" do
      booting = described_class.new(write_dynos(@dir), grace: 0.5, output: output, env: { "EVIDENCE" => @dir },
                                                       boot_delay: 1.0)
      asked = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      booting.scale("worker", 2)
      expect(booting.dynos.map { |dyno| [dyno.name, dyno.state] }).to eq([["worker.1", :starting], ["worker.2", :starting]])
      booting.scale("worker", 1)
      pid_of("worker.1")
      expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - asked).to be >= 1.0
      expect(output.string).to match(/worker\.1 +\| starting \(booting for 1\.0s\)/)
      expect(booting.dynos.map { |dyno| [dyno.name, dyno.state] }).to eq([["worker.1", :up]])
      expect(evidence("worker.2", "pid")).to be_nil
    ensure
      booting&.stop_all(grace: 0)
    end

    it "scales down from the highest number, with SIGTERM first" do
      supervisor.scale("worker", 3)
      pids = %w[worker.1 worker.2 worker.3].map { |name| pid_of(name) }

      supervisor.scale("worker", 1)

      await("worker.2 and worker.3 to exit") { supervisor.running("worker") == 1 }
      expect([evidence("worker.3", "term"), evidence("worker.2", "term"), evidence("worker.1", "term")]).to eq(["TERM", "TERM", nil])
      expect(output.string.index(/worker\.3 +\| stopping/)).to be < output.string.index(/worker\.2 +\| stopping/)
      # Reaped, not zombies: a zombie would still answer signal 0.
      expect(pids.map { |pid| alive?(pid) }).to eq([true, false, false])
      expect(supervisor.dynos.map(&:name)).to eq(["worker.1"])
    end

    it "kills a process that ignores SIGTERM once the grace period is over" do
      supervisor.scale("stubborn", 1)
      pid = pid_of("stubborn.1")

      supervisor.scale("stubborn", 0)

      await("SIGTERM to arrive") { evidence("stubborn.1", "term") }
      await("stubborn.1 to be killed") { !alive?(pid) }
      expect(output.string).to include("sending SIGKILL").and match(/stubborn\.1 +\| terminated by SIGKILL/)
    end

    it "restarts a process that exits by itself, as Heroku restarts crashed dynos" do
      supervisor.scale("crasher", 1)

      await("two restarts") { output.string.scan(/crasher\.1 +\| started/).size >= 3 }
      expect(output.string).to match(/crasher\.1 +\| crashing/).and match(/crasher\.1 +\| exited with code 3/)
    end

    it "stops everything, forked children included, and then ignores scaling" do
      supervisor.scale("worker", 2)
      supervisor.scale("stubborn", 1)
      supervisor.scale("forker", 1)
      pids = %w[worker.1 worker.2 stubborn.1 forker.1].map { |name| pid_of(name) }
      child = await("forker.1's child") { evidence("forker.1", "child") }.to_i

      supervisor.stop_all

      expect((pids + [child]).select { |pid| running?(pid) }).to be_empty
      expect(pids.select { |pid| alive?(pid) }).to be_empty
      expect(supervisor.running).to eq(0)
      expect(supervisor.scale("worker", 1)).to be(false)
      expect(supervisor.running).to eq(0)
    end

    it "stops the processes of a program interrupted with Ctrl-C" do
      procfile = write_dynos(@dir)
      script = <<~RUBY
        require "middle_management/local_formation"
        supervisor = MiddleManagement::LocalFormation::Supervisor.new(ARGV[0], grace: 1, env: { "EVIDENCE" => ARGV[1] })
        supervisor.scale("worker", 2)
        sleep
      RUBY
      program = start_child({}, RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", script, procfile, @dir)
      workers = %w[worker.1 worker.2].map { |name| pid_of(name) }

      Process.kill("INT", program.pid)
      program.wait("the program to exit after Ctrl-C")

      expect(%w[worker.1 worker.2].map { |name| evidence(name, "term") }).to eq(%w[TERM TERM])
      expect(workers.select { |pid| running?(pid) }).to be_empty
    ensure
      stop_leftovers(*workers)
    end

    it "converges to the quantities a local formation server is asked for" do
      server = FakeHeroku.start(app: "local", token: "t", formation: nil, supervisor: supervisor)
      expect(server.quantities).to eq("worker" => 0, "stubborn" => 0, "forker" => 0, "crasher" => 0, "web" => 0)

      response = Net::HTTP.start("127.0.0.1", server.port) do |http|
        http.patch("/apps/local/formation/worker", '{"quantity": 2}',
                   "Accept" => accept, "Authorization" => "Bearer t", "Content-Type" => "application/json")
      end

      expect(response.code).to eq("200")
      await("two workers") { supervisor.running("worker") == 2 }
      server.stop
      expect(supervisor.running).to eq(0)
    end
  end

  describe "the middle_management local command" do
    around do |example|
      Dir.mktmpdir("local-formation-cli") do |dir|
        @dir = dir
        example.run
      end
    end

    let(:exe) { File.expand_path("../exe/middle_management", __dir__) }

    it "serves the formation API, runs what it is asked for, and stops everything on INT" do
      procfile = write_dynos(@dir)
      env = { "EVIDENCE" => @dir, "MIDDLE_MANAGEMENT_HEROKU_API_KEY" => nil }
      cli = start_child(env, RbConfig.ruby, exe, "local", "--procfile", procfile, "--port", "0", "--grace", "1",
                        "--app", "cli-app")

      url, key = await("the settings to be printed", saw: -> { cli.output }) do
        cli.output.match(/MIDDLE_MANAGEMENT_HEROKU_API_URL=(\S+) .* MIDDLE_MANAGEMENT_HEROKU_API_KEY=(\h+)$/)&.captures
      end
      uri = URI("#{url}/apps/cli-app/formation/worker")
      response = Net::HTTP.start(uri.host, uri.port) do |http|
        http.patch(uri.path, '{"quantity": 1}', "Accept" => accept, "Authorization" => "Bearer #{key}",
                                                 "Content-Type" => "application/json")
      end
      expect(response.code).to eq("200")
      worker = pid_of("worker.1")
      expect(alive?(worker)).to be(true)
      expect(evidence("worker.1", "api")).to eq(url)

      # The page beside the API, open without credentials on this machine.
      page_url = cli.output[%r{The page .*: (http://127\.0\.0\.1:\d+/middle_management)$}, 1]
      expect(page_url).to eq("#{url}/middle_management")
      page = Net::HTTP.get_response(URI("#{page_url}/"))
      expect(page.code).to eq("200")
      expect(page["Content-Security-Policy"]).to start_with("default-src 'none'")
      expect(page.body).to include("Pool worker", "open without credentials")
      expect(Net::HTTP.get_response(URI("#{page_url}/status.json")).body).to include('"name":"worker"')

      Process.kill("INT", cli.pid)
      status = cli.wait("the command to exit after Ctrl-C")

      expect(status.exitstatus).to eq(0)
      expect(evidence("worker.1", "term")).to eq("TERM")
      expect(alive?(worker)).to be(false)
      expect(cli.output).to match(/worker\.1 +\| exited with code 0/)
    ensure
      stop_leftovers(worker)
    end

    it "explains itself" do
      output, = capture_within(RbConfig.ruby, exe, "local", "--help", timeout: 30)

      expect(output).to include("--procfile PATH", "--port PORT", "--grace SECONDS", "--formation TYPE=N")
    end
  end
end
