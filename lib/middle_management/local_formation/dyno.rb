module MiddleManagement
  module LocalFormation
    # One running process of a process type, `worker.2` say, in a process
    # group of its own: signals go to the whole group, as Heroku signals
    # every process in a dyno, and a Ctrl-C in the terminal reaches the
    # supervisor only (it then stops the dynos in order).
    class Dyno
      # Heroku runs commands with `bash -c`, which replaces itself with a
      # simple command: the dyno's first process is then the command itself,
      # not a shell that would die on SIGTERM before it.
      SHELL = %w[/bin/bash /usr/bin/bash].find { |path| File.executable?(path) }

      attr_reader :type, :number, :pid, :started_at
      # When it started, on the wall clock (started_at is monotonic, for delays).
      attr_reader :up_since
      # Set by the supervisor: when SIGKILL is due, and whether it was sent.
      attr_accessor :kill_at, :killed
      # The leader's exit status, once reaped.
      attr_reader :status

      def self.start(type, number, command:, env:, chdir:, output:)
        dyno = new(type, number)
        dyno.send(:spawn, command, env, chdir, output)
        dyno
      end

      def initialize(type, number)
        @type = type
        @number = number
        @killed = false
      end

      def name = "#{type}.#{number}"

      def slot = [type, number]

      def exited? = !@exited.nil?

      # Signals every process of the dyno; false when none is left.
      def signal(signal)
        Process.kill(signal, -pid)
        true
      rescue Errno::ESRCH
        false
      rescue Errno::EPERM
        # The group id was reused by a process we do not own: ours are gone.
        false
      end

      # Whether any process of the dyno remains, the leader or what it forked.
      # Orphans that already exited do not count: they wait as zombies until
      # init reaps them, which some inits do only every second or so.
      def group_alive?
        return live_group_members? if File.readable?("/proc/self/stat")

        Process.kill(0, -pid)
        true
      rescue Errno::ESRCH, Errno::EPERM
        false
      end

      # Blocks until the leader exits and reaps it (no zombie is left).
      # Returns its Process::Status, or nil if someone else reaped it.
      def wait
        _, status = Process.wait2(pid)
        status
      rescue Errno::ECHILD
        nil
      ensure
        @exited = true
        @status = status
      end

      # How the leader ended, in foreman's words.
      def describe_exit
        return "exited" unless status
        return "terminated by SIG#{Signal.signame(status.termsig)}" if status.signaled?

        "exited with code #{status.exitstatus}"
      end

      private

      def spawn(command, env, chdir, output)
        if output.enabled?
          reader, writer = IO.pipe
          redirect = { out: writer, err: writer }
        else
          redirect = { out: File::NULL, err: File::NULL }
        end
        argv = SHELL ? [SHELL, "-c", command] : [command]
        @pid = Process.spawn(env, *argv, pgroup: true, chdir: chdir, in: File::NULL, **redirect)
        @started_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        @up_since = Time.now
        output.pump(name, reader) if reader
      ensure
        writer&.close
        reader&.close if reader && !@pid
      end

      # /proc/PID/stat: "pid (comm) state ppid pgrp ...".
      def live_group_members?
        Dir.glob("/proc/[0-9]*/stat").any? do |path|
          state, _ppid, group = File.read(path).rpartition(")").last.split(" ", 4)
          group.to_i == pid && state != "Z"
        rescue SystemCallError
          false # exited while we looked
        end
      end
    end
  end
end
